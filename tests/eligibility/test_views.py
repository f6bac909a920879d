"""The eligibility pages: Sök person, free cards, FHB requests, attachments, the coordinator's decisions."""

import datetime
import hashlib
import re

import lxml.html
import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from clinics.models import SupportForm, User
from eligibility import services
from eligibility.models import (
    FreeCard,
    Patient,
    PriorAssessment,
    PriorAssessmentAttachment,
    PriorAssessmentCounter,
    PriorAssessmentState,
)
from portal.models import AccessLogEntry
from portal.money import format_kronor

from .factories import PNG

N_PIN = "200001012384"  # demo: N certificate tills vidare in Västra Götaland
NEW_PIN = "200001042399"  # a Skatteverket test number not in the demo
EXECUTABLE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run"
)


@pytest.fixture
def private_files(tmp_path):
    """Attachments go to a fresh folder for the test, so what is on disk afterwards is the test's alone."""
    field = PriorAssessmentAttachment._meta.get_field("file")
    original = field.storage
    field.storage = FileSystemStorage(location=tmp_path)
    yield tmp_path
    field.storage = original


def _files(folder) -> list:
    return [path for path in folder.rglob("*") if path.is_file()]


def _spellings(pin: str) -> list[str]:
    """Every way a personnummer could be written into a URL."""
    return [pin, pin[2:], f"{pin[:8]}-{pin[8:]}", f"{pin[2:8]}-{pin[8:]}"]


def _urls(body: str) -> list[str]:
    doc = lxml.html.document_fromstring(body)
    return [value for value in doc.xpath("//@href | //@action | //@src")]


def _assert_no_pin_in_urls(response, pin):
    urls = _urls(response.content.decode()) if response.content.strip() else []
    if response.get("Location"):
        urls.append(response["Location"])
    urls.append(response.wsgi_request.get_full_path())
    for url in urls:
        for spelling in _spellings(pin):
            assert spelling not in url, f"{spelling} in {url}"


def _clinic_url(name, clinic, **kwargs):
    return reverse(name, kwargs={"clinic_pk": clinic.pk, **kwargs})


def _region_url(name, region, **kwargs):
    return reverse(name, kwargs={"region_code": region.code, **kwargs})


def _login(client, user):
    client.force_login(user)
    return client


# Sök person ---------------------------------------------------------------------------------------------


def test_get_shows_the_empty_form_and_ignores_a_number_in_the_query_string(client, world):
    _login(client, world.biller)
    url = _clinic_url("person_search", world.clinic31)
    for path in (url, f"{url}?personal_identity_number={N_PIN}"):
        response = client.get(path)
        body = response.content.decode()
        assert response.status_code == 200
        assert 'name="personal_identity_number"' in body
        assert 'method="post"' in body
        assert "Stödformer" not in body and "N-tandvård" not in body
    assert not AccessLogEntry.objects.exists()


def test_post_shows_the_result_and_logs_the_access(client, world):
    _login(client, world.biller)
    response = client.post(_clinic_url("person_search", world.clinic31), {"personal_identity_number": "20000101-2384"})
    body = response.content.decode()
    assert response.status_code == 200  # the result itself, not a redirect to a URL with the number
    assert "Stödformer" in body
    assert "N-tandvård" in body and "tills vidare" in body and "764153" in body
    assert "20000101-2384" in body
    _assert_no_pin_in_urls(response, N_PIN)
    (entry,) = AccessLogEntry.objects.all()
    assert entry.user == world.biller and entry.clinic == world.clinic31 and entry.region == world.vg
    assert entry.personal_identity_number == N_PIN
    assert entry.role == "biller"
    assert N_PIN not in entry.path


def test_the_result_page_has_no_duplicate_ids(client, world):
    _login(client, world.biller)
    response = client.post(_clinic_url("person_search", world.clinic31), {"personal_identity_number": N_PIN})
    ids = lxml.html.document_fromstring(response.content).xpath("//@id")
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("200001012385", "Personnumret har fel kontrollsiffra."),
        ("20000101238", "Personnumret ska ha 10 eller 12 siffror."),
        ("20000101x2384", "Personnumret innehåller otillåtna tecken."),
    ],
)
def test_a_malformed_number_is_explained_in_swedish_and_kept(client, world, typed, message):
    _login(client, world.biller)
    response = client.post(_clinic_url("person_search", world.clinic31), {"personal_identity_number": typed})
    body = response.content.decode()
    assert response.status_code == 200
    assert message in body
    assert f'value="{typed}"' in body
    assert "Stödformer" not in body
    assert not AccessLogEntry.objects.exists()


def test_a_user_of_another_clinic_cannot_search_here(client, world):
    _login(client, world.dalarna_biller)
    response = client.post(_clinic_url("person_search", world.clinic31), {"personal_identity_number": N_PIN})
    assert response.status_code == 404
    assert not AccessLogEntry.objects.exists()


# Free cards from the result page ------------------------------------------------------------------------


def _free_card_post(client, world, **data):
    year = timezone.localdate().year
    values = {
        "personal_identity_number": N_PIN,
        "number": "FK-4711",
        "valid_from": f"{year}-01-01",
        "valid_to": f"{year}-12-31",
    }
    values.update(data)
    return client.post(_clinic_url("free_card_register", world.clinic31), values)


def test_register_a_free_card_from_the_result_page(client, world):
    _login(client, world.biller)
    response = _free_card_post(client, world, personal_identity_number="20000101-2384")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Frikortet är registrerat." in body
    card = FreeCard.objects.get(number="FK-4711")
    assert card.patient.personal_identity_number == N_PIN
    assert card.registered_by == world.biller and card.registered_at_clinic == world.clinic31
    _assert_no_pin_in_urls(response, N_PIN)
    assert AccessLogEntry.objects.filter(personal_identity_number=N_PIN, clinic=world.clinic31).exists()


def test_the_registered_card_shows_on_the_result(client, world):
    _login(client, world.biller)
    year = timezone.localdate().year
    body = _free_card_post(client, world).content.decode()
    assert f"Frikort FK-4711, gäller {year}-01-01 – {year}-12-31." in body
    assert "Ingen patientavgift" in body and "Giltigt frikort FK-4711" in body


def test_free_card_register_is_post_only(client, world):
    _login(client, world.biller)
    assert client.get(_clinic_url("free_card_register", world.clinic31)).status_code == 405


def test_a_free_card_ending_before_it_starts_keeps_the_typed_values(client, world):
    _login(client, world.biller)
    response = _free_card_post(client, world, number="FK-TYPED", valid_from="2026-06-01", valid_to="2026-05-01")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Slutdatum kan inte ligga före startdatum." in body
    assert 'value="FK-TYPED"' in body and 'value="2026-06-01"' in body and 'value="2026-05-01"' in body
    assert not FreeCard.objects.filter(number="FK-TYPED").exists()


def test_an_overlapping_free_card_is_refused_on_the_page_with_the_typed_values(client, world):
    """200001022391 has card 55512 for this whole year; another number for part of it is refused."""
    _login(client, world.biller)
    year = timezone.localdate().year
    response = _free_card_post(
        client,
        world,
        personal_identity_number="200001022391",
        number="FK-OTHER",
        valid_from=f"{year}-03-01",
        valid_to=f"{year + 1}-02-28",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Patienten har redan ett frikort med ett annat nummer under den perioden." in body
    assert 'value="FK-OTHER"' in body and f'value="{year}-03-01"' in body
    assert not FreeCard.objects.filter(number="FK-OTHER").exists()


# Requesting a prior assessment --------------------------------------------------------------------------


def _fhb_data(pin=NEW_PIN, **extra):
    data = {
        "personal_identity_number": pin,
        "support_form": SupportForm.S,
        "patient_category": "S3",
        "justification": "Extraktion av 36 inför strålbehandling.",
        "lines-TOTAL_FORMS": "5",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "30",
        "lines-0-code": "401",
        "lines-0-tooth": "36",
        "lines-0-jaw": "",
        "lines-0-estimated_price": "",
        "lines-1-code": "101",
        "lines-1-tooth": "",
        "lines-1-jaw": "",
        "lines-1-estimated_price": "",
    }
    for n in range(2, 5):
        data.update({f"lines-{n}-{f}": "" for f in ("code", "tooth", "jaw", "estimated_price")})
    data.update(extra)
    return data


def test_the_new_request_page_has_the_lines_formset(client, world):
    _login(client, world.biller)
    body = client.get(_clinic_url("prior_assessment_new", world.clinic31)).content.decode()
    assert 'name="lines-TOTAL_FORMS"' in body and 'name="lines-0-code"' in body
    assert 'enctype="multipart/form-data"' in body


def test_the_result_page_starts_a_request_for_the_patient_without_a_url(client, world):
    _login(client, world.biller)
    response = client.post(_clinic_url("prior_assessment_new", world.clinic31), {"prefill": N_PIN})
    body = response.content.decode()
    assert response.status_code == 200
    assert f'value="{N_PIN}"' in body
    _assert_no_pin_in_urls(response, N_PIN)
    assert not PriorAssessment.objects.filter(patient__personal_identity_number=N_PIN).exists()


def test_request_with_lines_and_an_image_creates_the_fhb_and_stores_the_file(client, world, private_files):
    _login(client, world.biller)
    data = _fhb_data(attachments=SimpleUploadedFile("röntgen 36.png", PNG, content_type="image/png"))
    response = client.post(_clinic_url("prior_assessment_new", world.clinic31), data)
    assert response.status_code == 302
    assessment = PriorAssessment.objects.get(patient__personal_identity_number=NEW_PIN)
    assert response["Location"] == _clinic_url("prior_assessment_detail", world.clinic31, assessment_pk=assessment.pk)
    _assert_no_pin_in_urls(response, NEW_PIN)
    assert assessment.clinic == world.clinic31 and assessment.created_by == world.biller
    assert assessment.state == PriorAssessmentState.SUBMITTED and assessment.support_form == "S"
    # Fixed prices come from the region's tariff (the demo's: 401 1 220 kr, 101 980 kr).
    assert list(assessment.lines.values_list("code", "tooth", "estimated_price")) == [
        ("401", "36", 122000),
        ("101", "", 98000),
    ]
    assert (assessment.patient_category.code, assessment.planned_date) == ("S3", timezone.localdate())
    (attachment,) = assessment.attachments.all()
    assert attachment.original_name == "röntgen 36.png"
    assert attachment.content_type == "image/png" and attachment.size == len(PNG)
    assert attachment.sha256 == hashlib.sha256(PNG).hexdigest()
    assert "röntgen" not in attachment.file.name  # the stored name is ours
    with attachment.file.open("rb") as stored:
        assert stored.read() == PNG
    assert len(_files(private_files)) == 1

    detail = client.get(response["Location"]).content.decode()
    assert assessment.number in detail and "Inskickad" in detail and "röntgen 36.png" in detail
    assert f"Förhandsbedömning {assessment.number} är inskickad." in detail


def test_request_without_any_line_is_refused(client, world):
    _login(client, world.biller)
    data = _fhb_data(**{"lines-0-code": "", "lines-0-tooth": "", "lines-0-estimated_price": ""})
    data.update({"lines-1-code": "", "lines-1-estimated_price": ""})
    response = client.post(_clinic_url("prior_assessment_new", world.clinic31), data)
    assert response.status_code == 200
    assert "Ange minst en planerad åtgärd." in response.content.decode()
    assert not PriorAssessment.objects.filter(patient__personal_identity_number=NEW_PIN).exists()


def test_an_executable_named_pdf_is_refused_and_nothing_is_stored(client, world, private_files):
    _login(client, world.biller)
    before = PriorAssessment.objects.count()
    counter = PriorAssessmentCounter.objects.get(year=timezone.localdate().year).last
    data = _fhb_data(attachments=SimpleUploadedFile("remiss.pdf", EXECUTABLE, content_type="application/pdf"))
    response = client.post(_clinic_url("prior_assessment_new", world.clinic31), data)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Filen remiss.pdf är ett program och får inte bifogas." in body
    assert "Extraktion av 36 inför strålbehandling." in body  # what was typed is kept
    assert PriorAssessment.objects.count() == before
    assert not PriorAssessmentAttachment.objects.exists()
    assert not Patient.objects.filter(personal_identity_number=NEW_PIN).exists()
    assert PriorAssessmentCounter.objects.get(year=timezone.localdate().year).last == counter
    assert _files(private_files) == []


def test_a_good_file_next_to_a_refused_one_is_not_left_on_disk(client, world, private_files):
    _login(client, world.biller)
    data = _fhb_data(
        attachments=[
            SimpleUploadedFile("röntgen.png", PNG, content_type="image/png"),
            SimpleUploadedFile("remiss.pdf", EXECUTABLE, content_type="application/pdf"),
        ]
    )
    response = client.post(_clinic_url("prior_assessment_new", world.clinic31), data)
    assert "Filen remiss.pdf är ett program och får inte bifogas." in response.content.decode()
    assert not PriorAssessment.objects.filter(patient__personal_identity_number=NEW_PIN).exists()
    assert _files(private_files) == []


# Attachments --------------------------------------------------------------------------------------------


@pytest.fixture
def fhb_with_attachment(world, private_files):
    assessment = services.prior_assessment_request(
        actor=world.biller,
        clinic=world.clinic31,
        personal_identity_number=NEW_PIN,
        support_form=SupportForm.S,
        justification="Extraktion.",
        lines=[{"code": "401", "tooth": "36", "estimated_price": 145000}],
        attachments=[SimpleUploadedFile("röntgen.png", PNG)],
    )
    return assessment, assessment.attachments.get()


def _attachment_url(clinic, assessment, attachment):
    return _clinic_url("prior_assessment_attachment", clinic, assessment_pk=assessment.pk, attachment_pk=attachment.pk)


def test_the_clinic_downloads_its_attachment_and_the_access_is_logged(client, world, fhb_with_attachment):
    assessment, attachment = fhb_with_attachment
    _login(client, world.biller)
    response = client.get(_attachment_url(world.clinic31, assessment, attachment))
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert content == PNG
    assert response["Content-Disposition"].startswith("attachment;")
    assert "r%C3%B6ntgen.png" in response["Content-Disposition"]
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    entry = AccessLogEntry.objects.get(shown=f"Bilaga röntgen.png till {assessment.number}")
    assert entry.user == world.biller and entry.clinic == world.clinic31
    assert entry.personal_identity_number == NEW_PIN


@pytest.mark.parametrize(
    ("email", "clinic"),
    [
        ("dalarna@demo.test", "clinic31"),  # not a member of clinic 31
        ("dalarna@demo.test", "clinic2001"),  # through their own clinic
        ("admin32@demo.test", "clinic32"),  # clinic 32 only, through their own clinic
        ("admin32@demo.test", "clinic31"),
        ("fakturerare@demo.test", "clinic32"),  # member of both: through 32 the FHB of 31 is not there
    ],
)
def test_another_clinic_gets_404_for_the_attachment(client, world, fhb_with_attachment, email, clinic):
    assessment, attachment = fhb_with_attachment
    _login(client, User.objects.get(email=email))
    url = _attachment_url(getattr(world, clinic), assessment, attachment)
    assert client.get(url).status_code == 404
    detail = _clinic_url("prior_assessment_detail", getattr(world, clinic), assessment_pk=assessment.pk)
    assert client.get(detail).status_code == 404
    assert not AccessLogEntry.objects.exists()


def test_the_region_downloads_the_attachment_but_not_another_region(client, world, fhb_with_attachment):
    assessment, attachment = fhb_with_attachment
    kwargs = {"assessment_pk": assessment.pk, "attachment_pk": attachment.pk}
    _login(client, world.coordinator_vg)
    response = client.get(_region_url("region_assessment_attachment", world.vg, **kwargs))
    assert response.status_code == 200 and b"".join(response.streaming_content) == PNG
    assert AccessLogEntry.objects.filter(user=world.coordinator_vg, region=world.vg, clinic=None).count() == 1
    _login(client, world.coordinator_dalarna)
    for region in (world.dalarna, world.vg):
        assert client.get(_region_url("region_assessment_attachment", region, **kwargs)).status_code == 404


# The coordinator's decision -----------------------------------------------------------------------------


@pytest.fixture
def fhb(world):
    return services.prior_assessment_request(
        actor=world.biller,
        clinic=world.clinic31,
        personal_identity_number=NEW_PIN,
        support_form=SupportForm.S,
        justification="Extraktion.",
        lines=[{"code": "401", "tooth": "36", "estimated_price": 145000}, {"code": "101", "estimated_price": 98000}],
        attachments=[],
    )


def _status(body: str) -> str:
    doc = lxml.html.document_fromstring(body)
    (status,) = doc.xpath("//dl[@class='facts']/dt[.='Status']/following-sibling::dd[1]/strong")
    return status.text_content().strip()


def _decision_data(assessment, approve=None, reason="Godkänd enligt underlaget."):
    data = {"reason": reason, "valid_until": ""}
    for line in assessment.lines.all():
        if approve is None or line.code in approve:
            data[f"approve_{line.pk}"] = "on"
        data[f"amount_{line.pk}"] = f"{line.estimated_price // 100}"
    return data


def test_the_coordinator_approves_all_and_the_clinic_sees_godkand(client, world, fhb):
    _login(client, world.coordinator_vg)
    detail = _region_url("region_assessment_detail", world.vg, assessment_pk=fhb.pk)
    page = client.get(detail).content.decode()
    assert "Spara beslut" in page and f'name="approve_{fhb.lines.first().pk}"' in page
    response = client.post(_region_url("region_assessment_decide", world.vg, assessment_pk=fhb.pk), _decision_data(fhb))
    assert response.status_code == 302 and response["Location"] == detail
    fhb.refresh_from_db()
    assert fhb.state == PriorAssessmentState.APPROVED and fhb.decided_by == world.coordinator_vg
    assert fhb.approved_total == 243000

    _login(client, world.biller)
    body = client.get(_clinic_url("prior_assessment_detail", world.clinic31, assessment_pk=fhb.pk)).content.decode()
    assert _status(body) == "Godkänd"
    assert "Godkänd enligt underlaget." in body


def test_approving_some_lines_through_the_page_limits_the_decision(client, world, fhb):
    _login(client, world.coordinator_vg)
    client.post(
        _region_url("region_assessment_decide", world.vg, assessment_pk=fhb.pk), _decision_data(fhb, approve={"401"})
    )
    body = client.get(_region_url("region_assessment_detail", world.vg, assessment_pk=fhb.pk)).content.decode()
    assert _status(body) == "Godkänd med begränsningar"
    assert "Ej godkänd" in body


def test_a_decision_without_reason_is_shown_again_with_the_error(client, world, fhb):
    _login(client, world.coordinator_vg)
    url = _region_url("region_assessment_decide", world.vg, assessment_pk=fhb.pk)
    response = client.post(url, _decision_data(fhb, reason=""))
    assert response.status_code == 200
    assert "Detta fält måste fyllas i." in response.content.decode()
    fhb.refresh_from_db()
    assert fhb.state == PriorAssessmentState.SUBMITTED


def test_a_second_decision_through_the_page_says_it_is_already_decided(client, world, fhb):
    _login(client, world.coordinator_vg)
    url = _region_url("region_assessment_decide", world.vg, assessment_pk=fhb.pk)
    client.post(url, _decision_data(fhb))
    response = client.post(url, _decision_data(fhb, approve=set(), reason="Ändrat mig."))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"Förhandsbedömningen {fhb.number} har redan status Godkänd, beslutad av Sara Samordnare." in body
    fhb.refresh_from_db()
    assert fhb.state == PriorAssessmentState.APPROVED


def test_the_dalarna_coordinator_gets_404_for_a_vg_request(client, world, fhb):
    _login(client, world.coordinator_dalarna)
    for region in (world.dalarna, world.vg):
        assert client.get(_region_url("region_assessment_detail", region, assessment_pk=fhb.pk)).status_code == 404
        decide = _region_url("region_assessment_decide", region, assessment_pk=fhb.pk)
        assert client.post(decide, _decision_data(fhb)).status_code == 404
    fhb.refresh_from_db()
    assert fhb.state == PriorAssessmentState.SUBMITTED
    assert not AccessLogEntry.objects.exists()


def test_the_queue_lists_open_requests_of_the_region_only(client, world, fhb):
    _login(client, world.coordinator_vg)
    body = client.get(_region_url("region_assessment_queue", world.vg)).content.decode()
    assert fhb.number in body
    _login(client, world.coordinator_dalarna)
    assert fhb.number not in client.get(_region_url("region_assessment_queue", world.dalarna)).content.decode()


# Information request and the clinic's answer ------------------------------------------------------------


def test_the_clinic_answers_an_information_request_through_the_page(
    client, world, fhb, private_files, mailoutbox, django_capture_on_commit_callbacks
):
    _login(client, world.coordinator_vg)
    ask = _region_url("region_assessment_request_information", world.vg, assessment_pk=fhb.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ask, {"question": "Bifoga röntgenbild av 36.", "deadline": ""})
    assert response.status_code == 302
    fhb.refresh_from_db()
    deadline = timezone.localdate() + datetime.timedelta(days=30)
    assert fhb.state == PriorAssessmentState.AWAITING_INFORMATION and fhb.information_deadline == deadline
    assert [m.subject for m in mailoutbox] == [f"Förhandsbedömning {fhb.number}: Avvaktar komplettering"]

    _login(client, world.biller)
    detail = _clinic_url("prior_assessment_detail", world.clinic31, assessment_pk=fhb.pk)
    page = client.get(detail).content.decode()
    assert _status(page) == "Avvaktar komplettering"
    assert f"komplettera senast {deadline.isoformat()}" in page
    assert "Bifoga röntgenbild av 36." in page and "Skicka komplettering" in page

    answer = _clinic_url("prior_assessment_answer", world.clinic31, assessment_pk=fhb.pk)
    response = client.post(answer, {"text": "Bilden bifogad.", "attachments": SimpleUploadedFile("röntgen.png", PNG)})
    assert response.status_code == 302 and response["Location"] == detail
    fhb.refresh_from_db()
    assert fhb.state == PriorAssessmentState.INFORMATION_RECEIVED and fhb.version == 2
    assert fhb.attachments.get().version == 2
    page = client.get(detail).content.decode()
    assert _status(page) == "Inkommen komplettering"
    assert "Bilden bifogad." in page and "Förhandsbedömningen som den såg ut i version 1" in page
    assert "Skicka komplettering" not in page

    _login(client, world.coordinator_vg)
    queue = client.get(_region_url("region_assessment_queue", world.vg)).content.decode()
    assert fhb.number in queue


def test_an_information_request_with_a_past_deadline_is_refused_beside_the_field(client, world, fhb, mailoutbox):
    _login(client, world.coordinator_vg)
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    response = client.post(
        _region_url("region_assessment_request_information", world.vg, assessment_pk=fhb.pk),
        {"question": "Bifoga röntgenbild.", "deadline": yesterday.isoformat()},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Senast: Sista dag för komplettering kan inte ligga före i dag." in body
    assert "Bifoga röntgenbild." in body
    fhb.refresh_from_db()
    assert fhb.state == PriorAssessmentState.SUBMITTED and mailoutbox == []


def test_an_empty_answer_is_refused_on_the_page(client, world, fhb):
    services.prior_assessment_request_information(actor=world.coordinator_vg, assessment=fhb, question="Mer?")
    _login(client, world.biller)
    response = client.post(_clinic_url("prior_assessment_answer", world.clinic31, assessment_pk=fhb.pk), {"text": ""})
    assert response.status_code == 200
    assert "Skriv ett svar eller bifoga en fil." in response.content.decode()
    fhb.refresh_from_db()
    assert fhb.state == PriorAssessmentState.AWAITING_INFORMATION and fhb.version == 1


def test_an_answer_nobody_asked_for_is_refused_on_the_page(client, world, fhb):
    _login(client, world.biller)
    response = client.post(
        _clinic_url("prior_assessment_answer", world.clinic31, assessment_pk=fhb.pk), {"text": "Svar."}
    )
    assert response.status_code == 200
    assert f"Förhandsbedömningen {fhb.number} har redan status Inskickad." in response.content.decode()
    fhb.refresh_from_db()
    assert fhb.version == 1


def test_no_pin_in_any_link_of_the_fhb_pages(client, world, fhb):
    _login(client, world.biller)
    for url in (
        _clinic_url("prior_assessment_list", world.clinic31),
        _clinic_url("prior_assessment_detail", world.clinic31, assessment_pk=fhb.pk),
    ):
        _assert_no_pin_in_urls(client.get(url), NEW_PIN)
    _login(client, world.coordinator_vg)
    for url in (
        _region_url("region_assessment_queue", world.vg),
        _region_url("region_assessment_detail", world.vg, assessment_pk=fhb.pk),
    ):
        response = client.get(url)
        assert response.status_code == 200
        _assert_no_pin_in_urls(response, NEW_PIN)
        assert not re.search(r"/\d{12}/", response.content.decode())


def test_the_result_shows_what_was_paid_for_the_patient_this_year_less_credits(client, world):
    from claims import services as claim_services
    from claims.models import ClaimState
    from tests.claims.factories import ClaimFactory, InvoiceFactory
    from tests.eligibility.factories import PatientFactory

    pin = "200001011493"  # demo: F certificate; no demo claims
    today = timezone.localdate()
    invoice = InvoiceFactory(clinic=world.clinic31, created_by=world.biller)
    patient = PatientFactory(personal_identity_number=pin)
    paid = ClaimFactory(invoice=invoice, patient=patient, support_form="F", state=ClaimState.PAID, paid_on=today)
    ClaimFactory(invoice=invoice, patient=patient, support_form="F", state=ClaimState.RECEIVED)  # not paid yet
    ClaimFactory(  # paid last year: not this year's
        invoice=invoice,
        patient=patient,
        support_form="F",
        state=ClaimState.PAID,
        paid_on=datetime.date(today.year - 1, 12, 31),
    )
    _login(client, world.biller)
    url = _clinic_url("person_search", world.clinic31)
    body = client.post(url, {"personal_identity_number": pin}).content.decode()
    assert f"Utbetalt för patienten {today.year}:</strong> {format_kronor(paid.total)}" in body
    # Said what it counts, beside the form's fribelopp that counts care given in the year instead.
    assert f"Det regionen har betalat ut under {today.year} för patientens vård" in body

    claim_services.claim_credit(actor=world.biller, claim=paid)
    body = client.post(url, {"personal_identity_number": pin}).content.decode()
    assert f"Utbetalt för patienten {today.year}:</strong> 0\xa0kr" in body
