"""Deadlines seen before they pass: a visit whose last billing day is within 14 days is named with that day in
Registrera räkning and on a checked invoice file's page; a visit past it is refused, with its date, by both."""

import datetime

import pytest
from django.utils import timezone

from claims.models import OPEN_STATES, Claim, ClaimLine, ClaimState, Invoice, InvoiceFileUpload
from claims.validation import DEADLINE_WARNING_DAYS, billing_deadline_warnings, last_billing_day, visits_due
from tests.claims.factories import ClaimFactory, tariff_for
from tests.clinics.factories import RegionFactory

from .test_invoice_file_flow import _claim, _doc, _fault_rows, _url, biller, invoice_xml, upload_file  # noqa: F401
from .test_register_views import N_PIN, _open

TODAY = datetime.date(2026, 12, 20)  # June's visits end at 2026-12-31 when the month counts


def _visit_with_last_day(region, today: datetime.date, days_left: int) -> tuple[datetime.date, datetime.date]:
    """The latest visit whose last billing day is `days_left` days from today or later (the region's rule)."""
    day = today
    while last_billing_day(region=region, visit_date=day) - today > datetime.timedelta(days=days_left):
        day -= datetime.timedelta(days=1)
    return day, last_billing_day(region=region, visit_date=day)


@pytest.mark.parametrize("basis", ["treatment_day", "end_of_treatment_month"])
def test_a_warning_from_the_last_day_fourteen_days_ahead_until_the_last_day_itself(basis):
    region = RegionFactory.build(billing_deadline_months=6, billing_deadline_basis=basis)
    days = [TODAY - datetime.timedelta(days=n) for n in range(120, 260)]
    warned = {
        day
        for day in days
        if billing_deadline_warnings(region=region, visit_dates=[day], today=TODAY)
        == [f"Besöket {day} måste faktureras senast {last_billing_day(region=region, visit_date=day)}."]
    }
    expected = {
        day
        for day in days
        if TODAY <= last_billing_day(region=region, visit_date=day) <= TODAY + datetime.timedelta(days=14)
    }
    assert warned == expected and warned
    assert DEADLINE_WARNING_DAYS == 14
    # Nothing said for the others: in time, or already past (those the validation refuses).
    for day in set(days) - warned:
        assert billing_deadline_warnings(region=region, visit_dates=[day], today=TODAY) == []


def test_the_form_names_a_visit_whose_deadline_ends_within_two_weeks(client, world):
    today = timezone.localdate()
    day, last = _visit_with_last_day(world.vg, today, 10)
    tariff_for(world.vg, day)
    page = _open(client, world)
    page.search(N_PIN)

    page.add(day, "101")

    warnings = page.doc.xpath("//div[@id='deadline-warnings']//li")
    assert [w.text_content() for w in warnings] == [f"Besöket {day} måste faktureras senast {last}."]
    assert page.doc.xpath("//table[@id='claim-lines-table']//tr[starts-with(@id, 'line-')]")


def test_the_form_says_nothing_of_a_deadline_further_away(client, world):
    today = timezone.localdate()
    day, _last = _visit_with_last_day(world.vg, today, 40)
    tariff_for(world.vg, day)
    page = _open(client, world)
    page.search(N_PIN)

    page.add(day, "101")

    assert not page.doc.xpath("//div[@id='deadline-warnings']")


def test_the_form_refuses_a_visit_past_the_deadline_with_its_date(client, world):
    today = timezone.localdate()
    day, _last = _visit_with_last_day(world.vg, today, -1)
    tariff_for(world.vg, day)
    page = _open(client, world)
    page.search(N_PIN)
    page.press("action", "refresh", care_model="K1")
    page.add(day, "101")

    page.submit(**{f"fee-{day.isoformat()}": "200"}, invoice_reference="D-9001", reference="OLD-1")

    message = f"Vård utförd {day} är äldre än sex månader efter behandlingsdagen och ersätts inte."
    assert message in page.summary()
    assert not page.doc.xpath("//div[@id='deadline-warnings']")  # past: refused, not warned
    assert not Claim.objects.filter(reference="OLD-1").exists()


def test_the_checked_files_page_names_visits_near_their_deadline_and_lists_those_past_it(biller, world, upload_file):  # noqa: F811
    today = timezone.localdate()
    near, near_last = _visit_with_last_day(world.vg, today, 7)
    old, _old_last = _visit_with_last_day(world.vg, today, -1)
    tariff_for(world.vg, near, old)

    upload_file(invoice_xml([_claim("NEAR-1", day=near), _claim("OLD-2", day=old)], reference="F-8801"))
    upload = InvoiceFileUpload.objects.get()
    doc = _doc(biller.get(_url("invoice_file_detail", upload)))

    assert [w.text_content() for w in doc.xpath("//div[@id='deadline-warnings']//li")] == [
        f"Besöket {near} måste faktureras senast {near_last}."
    ]
    rows = _fault_rows(doc)
    assert any(
        f"Vård utförd {old} är äldre än sex månader efter behandlingsdagen och ersätts inte." in " ".join(row)
        for row in rows
    ), rows


# The clinic's start page: claims under behandling and checked files whose deadline ends within 14 days -------


@pytest.mark.parametrize("basis", ["treatment_day", "end_of_treatment_month"])
@pytest.mark.parametrize("months", [3, 6])
def test_visits_due_are_exactly_the_visits_whose_last_day_is_within_the_warning(basis, months):
    region = RegionFactory.build(billing_deadline_months=months, billing_deadline_basis=basis)
    for today in (TODAY, datetime.date(2026, 2, 27), datetime.date(2026, 8, 31), datetime.date(2027, 3, 1)):
        first, last = visits_due(region=region, today=today)
        days = [today - datetime.timedelta(days=n) for n in range(0, 400)]
        due = {
            day
            for day in days
            if today <= last_billing_day(region=region, visit_date=day) <= today + datetime.timedelta(days=14)
        }
        assert {day for day in days if first <= day <= last} == due, (today, first, last)


def _deadline_soon_by_hand(clinic, today) -> dict[str, datetime.date]:
    """The clinic's claims under behandling whose earliest visit's last day is within 14 days, by reference."""
    found = {}
    for claim in Claim.objects.filter(clinic=clinic, state__in=OPEN_STATES).prefetch_related("lines"):
        first_visit = min(line.visit_date for line in claim.lines.all())
        last = last_billing_day(region=clinic.region, visit_date=first_visit)
        if today <= last <= today + datetime.timedelta(days=DEADLINE_WARNING_DAYS):
            found[claim.reference] = last
    return found


def _start_line(doc, name):
    return doc.xpath("//ul[contains(@class,'waiting-lines')]/li[@data-line=$name]", name=name)


def test_claims_under_behandling_near_their_deadline_have_a_line_leading_to_exactly_their_invoices(biller, world):  # noqa: F811
    today = timezone.localdate()
    clinic = world.clinic32
    near, _near_last = _visit_with_last_day(world.vg, today, 9)
    far, _far_last = _visit_with_last_day(world.vg, today, 40)
    made = {}
    for reference, day, state in (
        ("FRIST-NEAR", near, ClaimState.RECEIVED),
        ("FRIST-REVIEW", near, ClaimState.UNDER_REVIEW),
        ("FRIST-FAR", far, ClaimState.RECEIVED),
        ("FRIST-PAID", near, ClaimState.PAID),  # paid: nothing waits
    ):
        claim = ClaimFactory(
            invoice__clinic=clinic, invoice__reference=f"I-{reference}", reference=reference, state=state
        )
        ClaimLine.objects.filter(claim=claim).update(visit_date=day)
        made[reference] = claim
    # A later line does not make the claim's earliest visit later: its first visit counts.
    ClaimLine.objects.create(
        claim=made["FRIST-FAR"],
        position=2,
        visit_date=far,
        code="101",
        tariff_row=made["FRIST-FAR"].lines.first().tariff_row,
        amount=0,
    )
    # An old invoice too: the deadline waits whenever the invoice came in.
    Invoice.objects.filter(pk=made["FRIST-NEAR"].invoice_id).update(
        received_at=timezone.now() - datetime.timedelta(days=60)
    )
    expected = _deadline_soon_by_hand(clinic, today)
    assert {"FRIST-NEAR", "FRIST-REVIEW"} <= set(expected) and not {"FRIST-FAR", "FRIST-PAID"} & set(expected)

    [line] = _start_line(_doc(biller.get(f"/klinik/{clinic.pk}/")), "deadline-claims")
    text = " ".join(line.text_content().split())
    assert f"{len(expected)} räkningar under behandling har besök vars faktureringsfrist går ut inom 14 dagar" in text
    assert f"första frist {min(expected.values())}" in text
    href = line.xpath(".//a/@href")[0]
    assert href == f"/klinik/{clinic.pk}/fakturor/?deadline=soon"
    listed = {
        row.xpath("string(./th|./td)").strip()
        for row in _doc(biller.get(href)).xpath("//table[contains(@class, 'invoices')]/tbody/tr[1]")
    }
    invoices = set(Claim.objects.filter(reference__in=expected).values_list("invoice__reference", flat=True))
    assert listed == invoices and "I-FRIST-NEAR" in listed and "I-FRIST-FAR" not in listed


def test_no_deadline_line_when_no_claim_is_near_its_deadline(biller, world):  # noqa: F811
    today = timezone.localdate()
    Claim.objects.filter(clinic=world.clinic32, state__in=OPEN_STATES).update(state=ClaimState.DELETED)
    far, _last = _visit_with_last_day(world.vg, today, 40)
    claim = ClaimFactory(invoice__clinic=world.clinic32, reference="FRIST-FAR")
    ClaimLine.objects.filter(claim=claim).update(visit_date=far)
    assert not _start_line(_doc(biller.get(f"/klinik/{world.clinic32.pk}/")), "deadline-claims")


def test_a_checked_file_keeps_its_first_correct_visit_and_the_start_page_names_its_deadline(biller, world, upload_file):  # noqa: F811
    today = timezone.localdate()
    near, near_last = _visit_with_last_day(world.vg, today, 7)
    old, _old_last = _visit_with_last_day(world.vg, today, -1)
    later, _later_last = _visit_with_last_day(world.vg, today, 60)
    tariff_for(world.vg, near, old, later)
    upload_file(
        invoice_xml(
            [_claim("NEAR-1", day=near), _claim("OLD-2", day=old), _claim("LATER-3", day=later)], reference="F-8802"
        ),
        name="frist.xml",
    )
    upload = InvoiceFileUpload.objects.get()
    assert upload.state == "checked" and upload.faulty_count == 1
    # The claim past its deadline is refused and will not be sent: the earliest visit sending would bill counts.
    assert upload.first_visit_on == near

    # The start page tells it from what the check kept: the file itself is not read again.
    upload.file.delete(save=False)
    doc = _doc(biller.get(f"/klinik/{world.clinic31.pk}/"))
    [line] = _start_line(doc, "deadline-file")
    assert (
        " ".join(line.text_content().split())
        == f"Fakturafilen frist.xml: besöket {near} måste faktureras senast {near_last}"
    )
    assert line.xpath(".//a/@href") == [_url("invoice_file_detail", upload)]


def test_a_checked_file_whose_visits_are_in_time_has_no_deadline_line(biller, world, upload_file):  # noqa: F811
    today = timezone.localdate()
    later, _last = _visit_with_last_day(world.vg, today, 60)
    tariff_for(world.vg, later)
    upload_file(invoice_xml([_claim("LATER-1", day=later)], reference="F-8803"))
    upload = InvoiceFileUpload.objects.get()
    assert upload.first_visit_on == later
    assert not _start_line(_doc(biller.get(f"/klinik/{world.clinic31.pk}/")), "deadline-file")
