"""Deadlines seen before they pass: a visit whose last billing day is within 14 days is named with that day in
Registrera räkning and on a checked invoice file's page; a visit past it is refused, with its date, by both."""

import datetime

import pytest
from django.utils import timezone

from claims.models import Claim, InvoiceFileUpload
from claims.validation import DEADLINE_WARNING_DAYS, billing_deadline_warnings, last_billing_day
from tests.clinics.factories import RegionFactory

from .test_invoice_file_flow import _claim, _doc, _fault_rows, _url, biller, invoice_xml, upload_file  # noqa: F401
from .test_register_views import N_PIN, _open, _tariff

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
    _tariff(world.vg, day)
    page = _open(client, world)
    page.search(N_PIN)

    page.add(day, "101")

    warnings = page.doc.xpath("//div[@id='deadline-warnings']//li")
    assert [w.text_content() for w in warnings] == [f"Besöket {day} måste faktureras senast {last}."]
    assert page.doc.xpath("//table[@id='claim-lines-table']//tr[starts-with(@id, 'line-')]")


def test_the_form_says_nothing_of_a_deadline_further_away(client, world):
    today = timezone.localdate()
    day, _last = _visit_with_last_day(world.vg, today, 40)
    _tariff(world.vg, day)
    page = _open(client, world)
    page.search(N_PIN)

    page.add(day, "101")

    assert not page.doc.xpath("//div[@id='deadline-warnings']")


def test_the_form_refuses_a_visit_past_the_deadline_with_its_date(client, world):
    today = timezone.localdate()
    day, _last = _visit_with_last_day(world.vg, today, -1)
    _tariff(world.vg, day)
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
    for day in (near, old):
        _tariff(world.vg, day)

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
