"""The region's information (issue 15, point 8): published with a checked PDF, shown to the region's clinics from its
valid-from date, marked read per user when opened, and counted for the region."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent
from portal.uploads import MAX_ATTACHMENT_BYTES
from regioninfo import selectors, services
from regioninfo.models import Publication, PublicationRead

DAY = datetime.timedelta(days=1)
TODAY = timezone.localdate()
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _pdf(name="anvisningar.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def _publish(world, *, region=None, valid_from=TODAY, title="Informationsbrev 1", file=None, body="Nytt om frikort."):
    return services.publication_publish(
        actor=world.coordinator,
        region=region or world.region,
        kind="letter",
        title=title,
        body=body,
        valid_from=valid_from,
        file=file,
    )


def test_a_publication_with_a_pdf_is_stored_checked_and_audited(small_world):
    publication = _publish(small_world, file=_pdf())
    assert publication.file_name == "anvisningar.pdf"
    assert publication.file_size == len(PDF)
    assert len(publication.file_sha256) == 64
    with publication.file.open("rb") as stored:
        assert stored.read() == PDF
    event = AuditEvent.objects.get(action="regioninfo.publication.published", object_id=str(publication.pk))
    assert event.after["title"] == "Informationsbrev 1"


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (_pdf("brev.pdf", b"Hej, inte en PDF"), "inte en riktig PDF-fil"),
        (_pdf("brev.png", b"\x89PNG\r\n\x1a\n" + b"0" * 20), "inte en PDF-fil"),
        (_pdf("brev.exe", b"MZ" + b"0" * 20), "filtyp som inte är tillåten"),
        (_pdf("brev.pdf", b""), "är tom"),
        (_pdf("brev.pdf", b"%PDF-" + b"0" * MAX_ATTACHMENT_BYTES), "större än 10 MB"),
    ],
    ids=["not-really-pdf", "png", "program", "empty", "too-large"],
)
def test_a_file_that_is_not_a_small_real_pdf_is_refused(small_world, upload, message):
    with pytest.raises(ValidationError, match=message):
        _publish(small_world, file=upload)
    assert not Publication.objects.exists()


def test_a_publication_needs_a_title_and_a_text_or_a_file(small_world):
    with pytest.raises(ValidationError):
        _publish(small_world, title=" ")
    with pytest.raises(ValidationError, match="Skriv en text eller bifoga en PDF"):
        _publish(small_world, body="")
    assert _publish(small_world, body="", file=_pdf()).pk


def test_clinics_see_their_regions_publications_from_the_valid_from_date_until_withdrawn(small_world):
    world = small_world
    now = _publish(world, title="Gäller nu")
    _publish(world, title="Gäller i morgon", valid_from=TODAY + DAY)
    _publish(world, title="Annan region", region=world.other_region)
    withdrawn = _publish(world, title="Avpublicerad")
    services.publication_withdraw(actor=world.coordinator, publication=withdrawn)
    seen = selectors.clinic_publications(region=world.region, user=world.biller, today=TODAY)
    assert [p.title for p in seen] == ["Gäller nu"]
    later = selectors.clinic_publications(region=world.region, user=world.biller, today=TODAY + DAY)
    assert {p.title for p in later} == {"Gäller nu", "Gäller i morgon"}
    assert now.pk in {p.pk for p in selectors.region_publications(region=world.region)}
    assert withdrawn.pk in {p.pk for p in selectors.region_publications(region=world.region)}


def test_marking_read_is_once_per_user(small_world):
    world = small_world
    publication = _publish(world)
    assert services.publication_mark_read(user=world.biller, publication=publication)
    assert not services.publication_mark_read(user=world.biller, publication=publication)
    services.publication_mark_read(user=world.admin, publication=publication)
    assert PublicationRead.objects.filter(publication=publication).count() == 2


# The pages --------------------------------------------------------------------------------------------------------


def test_the_start_page_shows_unread_news_until_the_user_opens_it(client, small_world):
    world = small_world
    publication = _publish(world, title="Nya lokala anvisningar")
    client.force_login(world.biller)
    start = reverse("clinic_start", kwargs={"clinic_pk": world.clinic.pk})
    assert "Nya lokala anvisningar" in client.get(start).content.decode()
    opened = client.get(
        reverse("regioninfo_document", kwargs={"clinic_pk": world.clinic.pk, "publication_pk": publication.pk})
    )
    assert opened.status_code == 200 and "Nytt om frikort." in opened.content.decode()
    assert "Nya lokala anvisningar" not in client.get(start).content.decode()
    listing = client.get(reverse("regioninfo_documents", kwargs={"clinic_pk": world.clinic.pk})).content.decode()
    assert "Nya lokala anvisningar" in listing and "Oläst" not in listing
    # Read per user: the administrator still has it as news.
    client.force_login(world.admin)
    assert "Nya lokala anvisningar" in client.get(start).content.decode()


def test_downloading_the_pdf_sends_it_as_an_attachment_and_marks_it_read(client, small_world):
    world = small_world
    publication = _publish(world, file=_pdf())
    client.force_login(world.biller)
    url = reverse("regioninfo_document_file", kwargs={"clinic_pk": world.clinic.pk, "publication_pk": publication.pk})
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "application/pdf"
    assert PublicationRead.objects.filter(publication=publication, user=world.biller).exists()


def test_another_regions_and_a_future_publication_answer_404(client, small_world):
    world = small_world
    other = _publish(world, region=world.other_region)
    future = _publish(world, valid_from=TODAY + DAY)
    client.force_login(world.biller)
    for publication in (other, future):
        url = reverse("regioninfo_document", kwargs={"clinic_pk": world.clinic.pk, "publication_pk": publication.pk})
        assert client.get(url).status_code == 404
    assert not PublicationRead.objects.exists()


def test_the_region_publishes_with_the_form_and_sees_read_counts(client, small_world):
    world = small_world
    assert world.biller != world.admin  # two readers at the region's clinics
    client.force_login(world.coordinator)
    code = world.region.code
    response = client.post(
        reverse("regioninfo_region_new", kwargs={"region_code": code}),
        {
            "kind": "instructions",
            "title": "Lokala anvisningar 2027",
            "body": "",
            "valid_from": TODAY.isoformat(),
            "file": _pdf(),
        },
    )
    assert response.status_code == 302
    publication = Publication.objects.get()
    assert (publication.kind, publication.published_by) == ("instructions", world.coordinator)
    services.publication_mark_read(user=world.biller, publication=publication)
    listing = client.get(reverse("regioninfo_region_list", kwargs={"region_code": code})).content.decode()
    assert "Lokala anvisningar 2027" in listing and "1 av 2" in listing
    detail = client.get(
        reverse("regioninfo_region_detail", kwargs={"region_code": code, "publication_pk": publication.pk})
    ).content.decode()
    assert world.biller.email in detail and "1 av 2" in detail


def test_a_refused_file_keeps_what_was_typed(client, small_world):
    world = small_world
    client.force_login(world.coordinator)
    response = client.post(
        reverse("regioninfo_region_new", kwargs={"region_code": world.region.code}),
        {
            "kind": "form",
            "title": "Blankett för frikort",
            "body": "Fyll i",
            "valid_from": TODAY.isoformat(),
            "file": _pdf("blankett.pdf", b"<html>inte pdf</html>"),
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "inte en riktig PDF-fil" in text and "Blankett för frikort" in text
    assert not Publication.objects.exists()


def test_the_region_withdraws_a_publication(client, small_world):
    world = small_world
    publication = _publish(world)
    client.force_login(world.coordinator)
    url = reverse(
        "regioninfo_region_withdraw", kwargs={"region_code": world.region.code, "publication_pk": publication.pk}
    )
    assert client.post(url).status_code == 302
    publication.refresh_from_db()
    assert publication.withdrawn_by == world.coordinator
    assert selectors.clinic_publications(region=world.region, user=world.biller, today=TODAY) == []
