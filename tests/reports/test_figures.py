"""The start page's summaries (reports.models.ClaimMonthFigure, kept by triggers) equal a full recount of the
claims after every kind of change, and the page reads them, not the claims."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.test.utils import CaptureQueriesContext

from claims import services as claim_services
from claims.models import Claim, ClaimState, Invoice
from clinics.models import SupportForm
from reports import selectors
from reports.models import ClaimMonthFigure
from reports.services import claim_month_figures_compact, claim_month_figures_recount
from reports.tasks import claim_month_figures_compact_task
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.clinics.factories import ClinicFactory, RegionFactory, UserFactory

from .factories import STOCKHOLM, at, received_claim

N, F, S = SupportForm.N, SupportForm.F, SupportForm.S
TODAY = datetime.date(2026, 6, 15)


def _recount(region) -> dict:
    """What the start page showed before the summaries: the claims themselves, aggregated."""
    period = selectors.report_period(today=TODAY)
    start, end = period.bounds()
    rows = (
        Claim.objects.of_region(region)
        .filter(invoice__received_at__gte=start, invoice__received_at__lt=end)
        .exclude(state__in=(ClaimState.DELETED, ClaimState.VOIDED))
        .annotate(month=TruncMonth("invoice__received_at", tzinfo=STOCKHOLM))
        .values("month", "clinic_id", "support_form")
        .annotate(amount=Sum("total"), claims=Count("pk"))
        .order_by()
    )
    return {
        (row["month"].date(), row["clinic_id"], row["support_form"]): (row["amount"], row["claims"]) for row in rows
    }


def _figures(region) -> dict:
    period = selectors.report_period(today=TODAY)
    shown = {}
    for clinic in selectors.amounts_by_clinic(region=region, period=period):
        for form in selectors.FORMS:
            if clinic.amounts.by_form[form]:
                shown[clinic.clinic_id, form] = clinic.amounts.by_form[form]
    by_month = {
        row.month: (row.amounts.total, row.amounts.claims)
        for row in selectors.amounts_by_month(region=region, period=period)
    }
    return {"clinics": shown, "months": by_month}


def _expected(region) -> dict:
    recount = _recount(region)
    clinics, months = {}, {month: (0, 0) for month in selectors.report_period(today=TODAY).months}
    for (month, clinic_id, form), (amount, claims) in recount.items():
        if amount:
            clinics[clinic_id, form] = clinics.get((clinic_id, form), 0) + amount
        total, count = months[month]
        months[month] = (total + amount, count + claims)
    return {"clinics": clinics, "months": months}


def _table() -> dict:
    rows = ClaimMonthFigure.objects.values("region_id", "clinic_id", "month", "support_form", "state").annotate(
        amount=Sum("amount"), counted=Sum("claims")
    )
    return {
        (row["region_id"], row["clinic_id"], row["month"], row["support_form"], row["state"]): (
            row["amount"],
            row["counted"],
        )
        for row in rows
        if row["amount"] or row["counted"]
    }


def _table_recounted() -> dict:
    rows = (
        Claim.objects.annotate(month=TruncMonth("invoice__received_at", tzinfo=STOCKHOLM))
        .values("clinic__region_id", "clinic_id", "month", "support_form", "state")
        .annotate(amount=Sum("total"), counted=Count("pk"))
        .order_by()
    )
    return {
        (row["clinic__region_id"], row["clinic_id"], row["month"].date(), row["support_form"], row["state"]): (
            row["amount"],
            row["counted"],
        )
        for row in rows
    }


def _assert_figures_are_a_recount(*regions):
    assert _table() == _table_recounted()
    for region in regions:
        assert _figures(region) == _expected(region)
        workload = selectors.region_workload(region=region)
        for state, waiting in (
            (ClaimState.RECEIVED, workload.received),
            (ClaimState.UNDER_REVIEW, workload.under_review),
        ):
            claims = Claim.objects.of_region(region).filter(state=state)
            assert (waiting.count, waiting.amount) == (claims.count(), sum(claims.values_list("total", flat=True)))


@pytest.fixture
def world(db):
    region, other_region = RegionFactory(), RegionFactory()
    one, two = ClinicFactory(region=region), ClinicFactory(region=region)
    elsewhere = ClinicFactory(region=other_region)
    return region, other_region, one, two, elsewhere


def test_the_figures_equal_a_recount_after_claims_are_stored_approved_paid_credited_voided_and_deleted(world):
    region, other_region, one, two, elsewhere = world
    actor = UserFactory()
    stored = [
        received_claim(one, at(2025, 7, 3), 98_055, N),
        received_claim(one, at(2025, 8, 1, 0, 30), 1_01, F),  # August in Sweden, July in UTC
        received_claim(two, at(2026, 3, 1, 0, 15), 1_270_533, S),  # March in Sweden, February in UTC
        received_claim(two, at(2026, 6, 14), 45_550, N),
        received_claim(elsewhere, at(2026, 6, 14), 77_700, N),
    ]
    # A claim with a line, whose total the factory saves after the insert (an update of the total).
    paid = ClaimFactory(invoice=InvoiceFactory(clinic=one))
    Invoice.objects.filter(pk=paid.invoice_id).update(received_at=at(2026, 1, 10))
    _assert_figures_are_a_recount(region, other_region)

    claim_services.claim_start_review(actor=actor, claim=stored[0])
    claim_services.claim_approve(actor=actor, claim=stored[0])
    claim_services.claim_approve(actor=actor, claim=paid)
    claim_services.claims_mark_paid(actor=actor, claims=[Claim.objects.get(pk=paid.pk)], paid_on=TODAY)
    claim_services.claim_credit(actor=actor, claim=Claim.objects.get(pk=paid.pk))
    assert Claim.objects.get(pk=paid.pk).state == ClaimState.CREDITED
    _assert_figures_are_a_recount(region, other_region)

    claim_services.claim_void(actor=actor, claim=stored[1], reason="Fel klinik.")
    claim_services.claim_delete(actor=actor, claim=stored[3])
    claim_services.claim_void(actor=actor, claim=stored[4], reason="Fel patient.")
    _assert_figures_are_a_recount(region, other_region)

    # Many claims in one statement (a file, a bulk insert), then an invoice's Inkom moved to another month.
    invoice = InvoiceFactory(clinic=two)
    patient = stored[2].patient
    Claim.objects.bulk_create(
        ClaimFactory.build(
            invoice=invoice, clinic=two, patient=patient, total=10_000 + n, support_form=F, created_by=actor
        )
        for n in range(30)
    )
    Invoice.objects.filter(pk=invoice.pk).update(received_at=at(2025, 12, 24))
    _assert_figures_are_a_recount(region, other_region)

    rows_before = ClaimMonthFigure.objects.count()
    assert rows_before > len(_table_recounted())
    assert claim_month_figures_compact() > 0
    _assert_figures_are_a_recount(region, other_region)
    # One row per clinic, month and support form that counts anything; folding again changes nothing.
    assert ClaimMonthFigure.objects.count() == len(_table_recounted())
    assert claim_month_figures_compact_task() == 0
    _assert_figures_are_a_recount(region, other_region)


def test_a_recount_rebuilds_figures_that_went_wrong(world):
    region, other_region, one, two, elsewhere = world
    received_claim(one, at(2026, 5, 3), 98_055, N)
    received_claim(elsewhere, at(2026, 5, 3), 1_00, S)
    ClaimMonthFigure.objects.filter(clinic=one).update(amount=1)
    ClaimMonthFigure.objects.create(
        region=region, clinic=two, month=datetime.date(2026, 4, 1), support_form=F, state="paid", amount=5, claims=1
    )
    claim_month_figures_recount()
    _assert_figures_are_a_recount(region, other_region)
    # And by command (after bench/scale_fill.py, which copies without triggers).
    ClaimMonthFigure.objects.all().delete()
    call_command("report_figures_recount", stdout=io.StringIO())
    _assert_figures_are_a_recount(region, other_region)


def test_the_start_page_reads_the_figures_in_queries_that_do_not_grow_with_the_claims(world):
    region, _, one, two, _ = world
    period = selectors.report_period(today=TODAY)

    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            figures = selectors.amounts(region=region, period=period)
        assert figures.months == selectors.amounts_by_month(region=region, period=period)
        assert figures.clinics == selectors.amounts_by_clinic(region=region, period=period)
        return [query["sql"] for query in captured.captured_queries]

    received_claim(one, at(2026, 5, 3), 98_055, N)
    few = queries()
    for day in range(1, 20):
        received_claim(two, at(2026, 4, day), 1_000 + day, F)
    many = queries()
    assert len(few) == len(many) == 1  # both sums from one read of the summaries
    assert all("claims_claim" not in sql for sql in many), many


def _plan(sql: str, *, analysed: bool = False) -> str:
    """The plan when only an index-only scan is cheap: one is chosen only if an index holds every column read.
    (With statistics, as autovacuum gathers them, a plain index scan may otherwise win on a few rows.)"""
    with connection.cursor() as cursor:
        if analysed:
            cursor.execute("ANALYZE reports_claimmonthfigure")
        for method in ("seqscan", "bitmapscan", "indexscan"):
            cursor.execute(f"SET LOCAL enable_{method} = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_sums_and_the_waiting_claims_read_the_summaries_from_indexes_that_hold_their_columns(world):
    """reports 0003 and 0004: the region's rows of the period from (region, month), and its waiting claims' rows
    from (region, state), each with every column read."""
    region, _, one, _, _ = world
    received_claim(one, at(2026, 5, 3), 98_055, N)
    with CaptureQueriesContext(connection) as captured:
        selectors.amounts(region=region, period=selectors.report_period(today=TODAY))
    (query,) = captured.captured_queries
    sums = query["sql"]
    with CaptureQueriesContext(connection) as captured:
        selectors.region_workload(region=region)
    (query,) = [query for query in captured.captured_queries if "reports_claimmonthfigure" in query["sql"]]
    waiting = query["sql"]
    for analysed in (False, True):
        assert "Index Only Scan using claim_month_figure_region_all" in _plan(sums, analysed=analysed)
        assert "Index Only Scan using claim_month_figure_open" in _plan(waiting, analysed=analysed)
