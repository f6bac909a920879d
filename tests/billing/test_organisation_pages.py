"""Umbrella organisations: an organisation's user works for exactly its active clinics (another clinic is a 404),
and its own pages show Era fakturor, Utbetalningsbesked and what waits for all its clinics, with a Klinik column and
a filter by clinic, in the same queries however many invoices there are."""

import io
from datetime import UTC, datetime, timedelta

import lxml.html
import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing import organisation_views
from claims.models import Claim, Invoice
from clinics import services as clinic_services
from clinics.models import Organisation, OrganisationMembership
from payouts.models import PayoutPayment
from portal.models import AccessLogEntry, AuditEvent, ServiceWindow
from review.models import ClaimQuestion
from tests.billing.test_invoice_views import _paid_claim_at
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.eligibility.factories import PatientFactory

ORGANISATION_EMAIL = "organisation@demo.test"


@pytest.fixture
def organisation(world) -> Organisation:
    return Organisation.objects.get(region=world.vg, organisation_number="5566778899")


@pytest.fixture
def member(client, world):
    client.force_login(world.user(ORGANISATION_EMAIL))
    return client


def _doc(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.document_fromstring(response.content)


def _org_url(organisation, name: str = "organisation_invoice_list") -> str:
    return reverse(name, kwargs={"organisation_pk": organisation.pk})


def _rows(doc) -> list[list[str]]:
    return [
        [cell.text_content().strip() for cell in row.xpath("./th|./td")]
        for row in doc.xpath("//table[contains(@class, 'invoices')]/tbody/tr[1]")
    ]


# Tenancy ----------------------------------------------------------------------------------------------------------


def test_the_organisations_user_works_for_exactly_its_clinics(member, world, organisation):
    places = _doc(member.get(reverse("choose")))
    links = [(a.text_content().strip(), a.get("href")) for a in places.xpath("//ul[@class='place-list']//a")]
    assert links == [
        ("Folktandvården Demo", _org_url(organisation, "organisation_start")),
        ("31 Folktandvården Demostaden", f"/klinik/{world.clinic31.pk}/"),
        ("32 Tandläkarna i Demohamn", f"/klinik/{world.clinic32.pk}/"),
    ]
    start = _doc(member.get(f"/klinik/{world.clinic32.pk}/"))
    assert "Fakturerare" in start.text_content()
    assert start.xpath(f"//a[@href='{_org_url(organisation, 'organisation_start')}']")
    assert member.get(f"/klinik/{world.clinic31.pk}/fakturor/").status_code == 200
    assert member.get(f"/klinik/{world.clinic2001.pk}/").status_code == 404
    assert member.get(f"/klinik/{world.clinic2001.pk}/fakturor/").status_code == 404
    # A biller through the organisation, never its clinics' administrator.
    assert member.get(f"/klinik/{world.clinic31.pk}/klinikadministration/").status_code == 403


def test_a_clinic_taken_out_of_the_organisation_and_a_removed_user_are_404(member, world, organisation):
    clinic_services.organisation_clinics_set(
        actor=world.region_admin, organisation=organisation, clinics=[world.clinic31]
    )
    assert member.get(f"/klinik/{world.clinic32.pk}/").status_code == 404
    assert member.get(f"/klinik/{world.clinic31.pk}/").status_code == 200
    membership = OrganisationMembership.objects.get(user__email=ORGANISATION_EMAIL)
    clinic_services.organisation_member_remove(actor=world.region_admin, membership=membership)
    # The last place gone, the person's sessions end as when they leave their last clinic.
    assert member.get(f"/klinik/{world.clinic31.pk}/").status_code == 302


def test_an_inactive_clinic_of_the_organisation_is_404(member, world):
    world.clinic32.is_active = False
    world.clinic32.save(update_fields=["is_active"])
    assert member.get(f"/klinik/{world.clinic32.pk}/").status_code == 404


def test_a_clinics_own_user_does_not_reach_the_organisations_pages(client, world, organisation):
    client.force_login(world.biller)  # a biller at clinics 31 and 32 themselves, not of the organisation
    for name in ("organisation_start", "organisation_invoice_list", "organisation_payout_list"):
        assert client.get(_org_url(organisation, name)).status_code == 404


# Era fakturor for all the organisation's clinics -------------------------------------------------------------------


def test_era_fakturor_lists_every_clinics_invoices_with_a_clinic_column_and_filter(member, world, organisation):
    patient = PatientFactory(personal_identity_number="200001022391")
    ClaimFactory(
        invoice=InvoiceFactory(clinic=world.clinic31, reference="ORG-31", created_by=world.biller), patient=patient
    )
    ClaimFactory(
        invoice=InvoiceFactory(clinic=world.clinic32, reference="ORG-32", created_by=world.biller), patient=patient
    )
    ClaimFactory(invoice=InvoiceFactory(clinic=world.clinic2001, reference="ORG-2001", created_by=world.biller))

    doc = _doc(member.get(_org_url(organisation)))
    headings = [th.text_content().strip() for th in doc.xpath("//table[contains(@class,'invoices')]/thead//th")]
    assert headings[:2] == ["OCR/Fakturanummer", "Klinik"]
    rows = {row[0]: row[1] for row in _rows(doc)}
    assert rows["ORG-31"] == "31 Folktandvården Demostaden"
    assert rows["ORG-32"] == "32 Tandläkarna i Demohamn"
    assert "ORG-2001" not in rows
    # The list shows no patient; opened, a row fetches its claims from its own clinic's pages, each claim leading
    # to its clinic's page, and the patients shown are logged under the clinic whose data it is.
    assert not AccessLogEntry.objects.filter(user__email=ORGANISATION_EMAIL).exists()
    claim_32 = Claim.objects.get(invoice__reference="ORG-32")
    holders = doc.xpath("//*[@data-invoice-claims]/@data-invoice-claims")
    assert f"/klinik/{world.clinic32.pk}/fakturor/{claim_32.invoice_id}/rakningar/" in holders
    for url in holders:
        assert member.get(url).status_code == 200
    part = lxml.html.document_fromstring(
        member.get(f"/klinik/{world.clinic32.pk}/fakturor/{claim_32.invoice_id}/rakningar/").content.decode()
    )
    assert f"/klinik/{world.clinic32.pk}/fakturor/rakningar/{claim_32.pk}/" in part.xpath("//a/@href")
    logged = set(
        AccessLogEntry.objects.filter(
            user__email=ORGANISATION_EMAIL, personal_identity_number="200001022391"
        ).values_list("clinic__number", flat=True)
    )
    assert logged == {"31", "32"}

    only_32 = {row[0] for row in _rows(_doc(member.get(_org_url(organisation) + "?clinic=32")))}
    assert "ORG-32" in only_32 and "ORG-31" not in only_32
    # Another clinic's number is no choice: an error, never its invoices.
    refused = _doc(member.get(_org_url(organisation) + "?clinic=2001"))
    assert not _rows(refused) and refused.xpath("//*[contains(@class,'error')]")
    # Searched by personnummer (POSTed), one clinic chosen.
    posted = _doc(member.post(_org_url(organisation), {"clinic": "31", "personal_identity_number": "200001022391"}))
    assert {row[0] for row in _rows(posted)} == {"ORG-31"}
    every = _doc(member.post(_org_url(organisation), {"personal_identity_number": "200001022391"}))
    assert {row[0] for row in _rows(every)} == {"ORG-31", "ORG-32"}
    # An organisation left without clinics lists nothing.
    clinic_services.organisation_clinics_set(actor=world.region_admin, organisation=organisation, clinics=[])
    assert not _rows(_doc(member.get(_org_url(organisation))))


def test_the_organisations_list_runs_the_same_queries_for_3_and_30_invoices(member, world, organisation):
    counts = []
    for first, last in ((0, 3), (3, 30)):
        for index in range(first, last):
            clinic = world.clinic31 if index % 2 else world.clinic32
            ClaimFactory(invoice=InvoiceFactory(clinic=clinic, reference=f"Q-{index}", created_by=world.biller))
        with CaptureQueriesContext(connection) as queries:
            response = member.get(_org_url(organisation))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_organisations_list_pages_through_both_clinics_once_at_equal_timestamps(
    member, world, organisation, monkeypatch
):
    # Each clinic's invoices are read by its own index and merged: invoices of the two clinics that came in at the
    # same moment are each shown once, in the order (Inkom, id) forwards and backwards.
    monkeypatch.setattr(organisation_views, "PAGE_SIZE", 2)
    moment = datetime(2019, 5, 2, 10, 0, tzinfo=UTC)
    owners = [world.clinic31, world.clinic32, world.clinic32, world.clinic31, world.clinic32, world.clinic31]
    for index, clinic in enumerate([*owners, world.clinic2001]):
        invoice = InvoiceFactory(clinic=clinic, reference=f"EQ-{index}", created_by=world.biller)
        ClaimFactory(invoice=invoice)
        Invoice.objects.filter(pk=invoice.pk).update(received_at=moment + timedelta(minutes=index // 3))
    expected = list(
        Invoice.objects.filter(reference__startswith="EQ-", clinic__in=[world.clinic31, world.clinic32])
        .order_by("-received_at", "-id")
        .values_list("reference", flat=True)
    )
    assert len(expected) == 6

    def pages(href: str, rel: str) -> list[list[str]]:
        seen = []
        while True:
            doc = _doc(member.get(_org_url(organisation) + href))
            seen.append([row[0] for row in _rows(doc)])
            links = doc.xpath(f"//nav[contains(@class,'pagination')]//a[@rel='{rel}']/@href")
            if not links:
                return seen
            href = links[0]

    with CaptureQueriesContext(connection) as queries:
        forward = pages("?date_from=2019-05-02&date_to=2019-05-02", "next")
    assert any("UNION ALL" in query["sql"] for query in queries)  # the clinics read apart, merged
    assert [reference for page in forward for reference in page] == expected
    last = _doc(member.get(_org_url(organisation) + "?date_from=2019-05-02&date_to=2019-05-02"))
    for _ in forward[1:]:
        href = last.xpath("//nav[contains(@class,'pagination')]//a[@rel='next']/@href")[0]
        last = _doc(member.get(_org_url(organisation) + href))
    previous = last.xpath("//nav[contains(@class,'pagination')]//a[@rel='prev']/@href")[0]
    assert pages(previous, "prev") == list(reversed(forward[:-1]))


def test_a_plusgiro_clinics_credit_says_where_to_pay_without_reading_the_region_again(member, world, organisation):
    # Each invoice's clinic is the organisation's, read with its region: the instruction costs no query.
    claim = _paid_claim_at(world, world.clinic32)
    url = f"/klinik/{world.clinic32.pk}/fakturor/rakningar/{claim.pk}/kreditera/"
    line_101 = claim.lines.get(code="101")
    assert member.post(url, {"confirm": "1", "lines": [line_101.pk]}).status_code == 302
    with CaptureQueriesContext(connection) as queries:
        doc = _doc(member.get(_org_url(organisation, "organisation_invoice_list_credits")))
    assert claim.invoice.reference in {row[0] for row in _rows(doc)}
    assert "ange Vår referens 518148" in doc.text_content()
    assert not [query for query in queries if 'FROM "clinics_region"' in query["sql"]]


def test_the_export_has_a_clinic_column(member, world, organisation):
    ClaimFactory(invoice=InvoiceFactory(clinic=world.clinic32, reference="ORG-X32", created_by=world.biller))
    response = member.get(_org_url(organisation) + "?export=1")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    heading = next(row for row in rows if row and row[0] == "OCR/Fakturanummer")
    assert heading[:2] == ["OCR/Fakturanummer", "Klinik"]
    assert ["ORG-X32", "32 Tandläkarna i Demohamn"] in [row[:2] for row in rows]


# Utbetalningsbesked and the start page -----------------------------------------------------------------------------


def test_utbetalningsbesked_shows_every_clinics_payouts_with_a_filter(member, world, organisation):
    doc = _doc(member.get(_org_url(organisation, "organisation_payout_list")))
    clinics = {row.xpath("./td[1]")[0].text_content().strip()[:2] for row in doc.xpath("//table/tbody/tr")}
    assert clinics == {"31", "32"}  # the demo pays both every month
    pdf_links = doc.xpath("//a[starts-with(normalize-space(), 'PDF')]/@href")
    assert any(f"/klinik/{world.clinic32.pk}/utbetalningsbesked/" in link for link in pdf_links)
    assert member.get(pdf_links[0]).status_code == 200
    only_31 = _doc(member.get(_org_url(organisation, "organisation_payout_list") + "?clinic=31"))
    assert {row.xpath("./td[1]")[0].text_content().strip()[:2] for row in only_31.xpath("//table/tbody/tr")} == {"31"}


def test_the_start_page_lists_each_clinic_with_what_waits(member, world, organisation):
    claim = ClaimFactory(invoice=InvoiceFactory(clinic=world.clinic32, created_by=world.biller))
    ClaimQuestion.objects.create(claim=claim, question="Varför?", asked_by=world.coordinator_vg)
    doc = _doc(member.get(_org_url(organisation, "organisation_start")))
    rows = {
        row.get("data-clinic"): [cell.text_content().strip() for cell in row.xpath("./td")]
        for row in doc.xpath("//tr[@data-clinic]")
    }
    assert set(rows) == {"31", "32"}
    assert int(rows["32"][0]) >= 1
    assert doc.xpath(f"//a[@href='/klinik/{world.clinic32.pk}/fakturor/?question=waiting']")


# The region administrator's Organisationer ---------------------------------------------------------------------------


def test_the_region_administrator_makes_an_organisation_and_gives_it_clinics_and_users(client, world):
    client.force_login(world.region_admin)
    url = reverse("region_organisations", kwargs={"region_code": "dalarna"})
    refused = client.post(url, {"name": "Folktandvården Dalarna", "organisation_number": "559000-1111"})
    assert "organisationsnummer" in refused.content.decode().lower() and refused.status_code == 200
    response = client.post(url, {"name": "Folktandvården Dalarna", "organisation_number": "559000-1110"})
    organisation = Organisation.objects.get(region=world.dalarna)
    assert response["Location"] == reverse(
        "region_organisation", kwargs={"region_code": "dalarna", "organisation_pk": organisation.pk}
    )
    assert organisation.organisation_number == "5590001110"

    page = response["Location"]
    client.post(page, {"action": "clinics", "clinics": [world.clinic2001.pk]})
    assert list(organisation.clinics.values_list("number", flat=True)) == ["2001"]
    # A clinic of another region is no choice.
    client.post(page, {"action": "clinics", "clinics": [world.clinic31.pk]})
    assert list(organisation.clinics.values_list("number", flat=True)) == ["2001"]

    # A coordinator of the region cannot be its clinics' user (the separation of duties).
    duties = client.post(page, {"action": "member", "email": "samordnare.dalarna@demo.test", "role": "biller"})
    assert "Personen har en roll i regionen" in duties.content.decode()
    client.post(page, {"action": "member", "email": "admin32@demo.test", "role": "finance"})
    membership = OrganisationMembership.objects.get(organisation=organisation)
    assert (membership.user.email, membership.role, membership.is_active) == ("admin32@demo.test", "finance", True)
    remove = reverse(
        "region_organisation_member_remove",
        kwargs={
            "region_code": "dalarna",
            "organisation_pk": organisation.pk,
            "organisation_membership_pk": membership.pk,
        },
    )
    client.post(remove)
    membership.refresh_from_db()
    assert not membership.is_active
    actions = list(
        AuditEvent.objects.filter(region_id=world.dalarna.pk, action__startswith="clinics.organisation.").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == [
        "clinics.organisation.clinics_changed",
        "clinics.organisation.created",
        "clinics.organisation.member_added",
        "clinics.organisation.member_removed",
    ]


def test_the_organisations_pages_close_in_its_regions_service_window(member, world, organisation):
    now = timezone.now()
    ServiceWindow.objects.create(
        region=world.vg,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        message="Uppgradering",
        created_by=world.region_admin,
    )
    assert member.get(_org_url(organisation, "organisation_start")).status_code == 503


def test_utbetalningsbesked_pages_lose_and_repeat_nothing_and_keep_the_clinic(member, world, organisation, monkeypatch):
    monkeypatch.setattr(organisation_views, "PAYOUTS_PAGE_SIZE", 2)
    expected = list(
        PayoutPayment.objects.filter(clinic__number="31", run__file_downloaded_at__isnull=False)
        .order_by("-run__payout_date", "clinic__number", "-pk")
        .values_list("run__payout_date", flat=True)
    )
    assert len(expected) > 2
    seen, href, counts = [], "?clinic=31", []
    while True:
        with CaptureQueriesContext(connection) as queries:
            doc = _doc(member.get(_org_url(organisation, "organisation_payout_list") + href))
        counts.append(len(queries))
        seen += [row.xpath("string(th)") for row in doc.xpath("//table/tbody/tr")]
        links = doc.xpath("//nav[contains(@class,'pagination')]//a[@rel='next']")
        if not links:
            break
        href = links[0].get("href")
        assert href.startswith("?clinic=31&")
    assert seen == [day.isoformat() for day in expected]
    assert len(set(counts)) == 1
