"""The start page's figures: claims counted in the month they came in, to the öre, in one region only."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from claims.models import Claim, ClaimState, Invoice
from clinics.models import SupportForm
from eligibility.models import PriorAssessmentState
from reports import selectors
from reports.selectors import Amounts
from review.models import ClaimQuestion
from tests.clinics.factories import ClinicFactory, RegionFactory
from tests.eligibility.factories import PriorAssessmentFactory
from tests.review.factories import ClaimQuestionFactory

from .factories import at, received_claim

N, F, S = SupportForm.N, SupportForm.F, SupportForm.S
TODAY = datetime.date(2026, 6, 15)  # the period is July 2025 – June 2026


@pytest.fixture
def region(db):
    return RegionFactory()


@pytest.fixture
def clinics(region):
    return ClinicFactory(region=region, number="501", name="Tandvården Ett"), ClinicFactory(
        region=region, number="77", name="Tandvården Två"
    )


def _by_month(region) -> dict[datetime.date, Amounts]:
    period = selectors.report_period(today=TODAY)
    return {row.month: row.amounts for row in selectors.amounts_by_month(region=region, period=period)}


def test_the_period_is_the_current_month_and_the_eleven_before():
    period = selectors.report_period(today=TODAY)
    assert period.months[0] == datetime.date(2025, 7, 1)
    assert period.months[-1] == datetime.date(2026, 6, 1)
    assert len(period.months) == 12
    assert (period.first_day, period.last_day) == (datetime.date(2025, 7, 1), datetime.date(2026, 6, 30))
    january = selectors.report_period(today=datetime.date(2027, 1, 1))
    assert (january.first_day, january.last_day) == (datetime.date(2026, 2, 1), datetime.date(2027, 1, 31))


def test_amounts_per_month_and_support_form_are_summed_to_the_ore(region, clinics):
    one, two = clinics
    received_claim(one, at(2025, 7, 3), 98_055, N)
    received_claim(two, at(2025, 7, 28), 1_01, N)
    received_claim(one, at(2025, 7, 10), 45_550, F)
    received_claim(two, at(2026, 3, 1, 9), 1_270_533, S)
    received_claim(one, at(2026, 3, 31, 18), 99, S)
    received_claim(one, at(2026, 6, 15, 8), 12_345, F)

    months = _by_month(region)
    assert months[datetime.date(2025, 7, 1)].by_form == {N: 98_156, F: 45_550, S: 0}
    assert months[datetime.date(2025, 7, 1)].claims == 3
    assert months[datetime.date(2025, 7, 1)].total == 143_706
    assert months[datetime.date(2026, 3, 1)].by_form == {N: 0, F: 0, S: 1_270_632}
    assert months[datetime.date(2026, 3, 1)].claims == 2
    assert months[datetime.date(2026, 6, 1)].by_form == {N: 0, F: 12_345, S: 0}
    # Every month of the period is there, those without claims as zeros.
    assert len(months) == 12
    assert months[datetime.date(2025, 12, 1)].by_form == {N: 0, F: 0, S: 0}
    assert months[datetime.date(2025, 12, 1)].claims == 0


def test_a_claim_counts_in_the_swedish_month_it_came_in(region, clinics):
    one, _two = clinics
    received_claim(one, at(2025, 6, 30, 23, 59), 1_00)  # before the period
    received_claim(one, at(2025, 7, 1, 0, 0), 2_00)  # 30 June 22:00 UTC: July in Sweden
    received_claim(one, at(2026, 1, 31, 23, 30), 4_00)  # 31 January 22:30 UTC, still January
    received_claim(one, at(2026, 2, 1, 0, 30), 8_00)  # 31 January 23:30 UTC, February in Sweden
    received_claim(one, at(2026, 7, 1, 0, 5), 16_00)  # after the period

    months = _by_month(region)
    assert months[datetime.date(2025, 7, 1)].total == 2_00
    assert months[datetime.date(2026, 1, 1)].total == 4_00
    assert months[datetime.date(2026, 2, 1)].total == 8_00
    assert sum(amounts.total for amounts in months.values()) == 14_00


def test_deleted_and_voided_claims_never_count_and_every_other_state_does(region, clinics):
    one, _two = clinics
    counted = {
        ClaimState.RECEIVED: 1_01,
        ClaimState.UNDER_REVIEW: 2_02,
        ClaimState.APPROVED: 3_03,
        ClaimState.PAID: 4_04,
        ClaimState.CREDITED: 5_05,
    }
    for state, total in counted.items():
        received_claim(one, at(2026, 4, 2), total, N, state=state)
    received_claim(one, at(2026, 4, 2), 1_000_000, N, state=ClaimState.DELETED)
    received_claim(one, at(2026, 4, 2), 2_000_000, N, state=ClaimState.VOIDED)

    april = _by_month(region)[datetime.date(2026, 4, 1)]
    assert april.by_form[N] == sum(counted.values()) == 15_15
    assert april.claims == 5
    (row,) = selectors.amounts_by_clinic(region=region, period=selectors.report_period(today=TODAY))
    assert row.amounts.total == 15_15


def test_another_regions_claims_never_count(region, clinics):
    one, _two = clinics
    received_claim(one, at(2026, 5, 5), 50_000, F)
    other_region = RegionFactory()
    received_claim(ClinicFactory(region=other_region), at(2026, 5, 5), 7_777_700, F)

    months = _by_month(region)
    assert months[datetime.date(2026, 5, 1)].by_form == {N: 0, F: 50_000, S: 0}
    assert sum(amounts.total for amounts in months.values()) == 50_000
    clinic_rows = selectors.amounts_by_clinic(region=region, period=selectors.report_period(today=TODAY))
    assert [row.number for row in clinic_rows] == ["501"]
    other = _by_month(other_region)
    assert other[datetime.date(2026, 5, 1)].by_form == {N: 0, F: 7_777_700, S: 0}


def test_amounts_per_clinic_by_support_form_largest_first(region, clinics):
    one, two = clinics
    ClinicFactory(region=region, number="9", name="Utan räkningar")
    received_claim(one, at(2025, 8, 1), 10_050, N)
    received_claim(one, at(2026, 2, 1), 20_025, S)
    received_claim(one, at(2025, 6, 1), 999_999, S)  # before the period
    received_claim(two, at(2025, 9, 9), 500_001, F)
    received_claim(two, at(2025, 9, 9), 1, N)

    rows = selectors.amounts_by_clinic(region=region, period=selectors.report_period(today=TODAY))
    assert [(row.number, row.name) for row in rows] == [("77", "Tandvården Två"), ("501", "Tandvården Ett")]
    assert rows[0].amounts.by_form == {N: 1, F: 500_001, S: 0}
    assert rows[0].amounts.claims == 2
    assert rows[1].amounts.by_form == {N: 10_050, F: 0, S: 20_025}
    assert rows[1].amounts.total == 30_075
    assert Amounts.sum_of(rows).total == 530_077
    # The per-clinic and per-month figures are the same claims.
    assert Amounts.sum_of(rows).total == sum(amounts.total for amounts in _by_month(region).values())


def test_a_clinic_whose_claims_left_the_period_is_not_listed_and_its_month_is_zero(region, clinics):
    """The summaries then hold the clinic's claim and its removal, summing to no claim: no row of zeros for it."""
    one, two = clinics
    gone = received_claim(one, at(2026, 5, 3), 5_000, N)
    received_claim(two, at(2026, 4, 3), 7_000, F)
    Invoice.objects.filter(pk=gone.invoice_id).update(received_at=at(2024, 1, 1))

    figures = selectors.amounts(region=region, period=selectors.report_period(today=TODAY))

    assert [(row.number, row.amounts.by_form[F], row.amounts.claims) for row in figures.clinics] == [("77", 7_000, 1)]
    by_month = {row.month: (row.amounts.total, row.amounts.claims) for row in figures.months}
    assert (by_month[datetime.date(2026, 5, 1)], by_month[datetime.date(2026, 4, 1)]) == ((0, 0), (7_000, 1))


def test_the_figures_take_a_fixed_number_of_queries(region, clinics, django_assert_num_queries):
    one, two = clinics
    for day in range(1, 29):
        received_claim(one if day % 2 else two, at(2026, 2, day), 100 + day, [N, F, S][day % 3])
    period = selectors.report_period(today=TODAY)
    with django_assert_num_queries(1):
        selectors.amounts_by_month(region=region, period=period)
    with django_assert_num_queries(1):
        selectors.amounts_by_clinic(region=region, period=period)
    with django_assert_num_queries(1):
        selectors.amounts(region=region, period=period)
    # The open claims' figures, the first of each open state and the oldest of their days, requests, answered
    # questions, repayments.
    with django_assert_num_queries(6):
        selectors.region_workload(region=region)


def test_workload_counts_what_waits_in_the_region_only(region, clinics):
    one, two = clinics
    received_claim(one, at(2026, 5, 2, 8), 10_000, N)
    received_claim(two, at(2026, 4, 20, 8), 2_550, S)
    received_claim(two, at(2026, 5, 30), 7_000, F, state=ClaimState.UNDER_REVIEW)
    received_claim(one, at(2026, 5, 30), 9_999, F, state=ClaimState.APPROVED)
    received_claim(one, at(2026, 5, 30), 9_999, F, state=ClaimState.DELETED)
    received_claim(ClinicFactory(), at(2026, 1, 1), 9_999, N)  # another region

    for state in (
        PriorAssessmentState.SUBMITTED,
        PriorAssessmentState.IN_REVIEW,
        PriorAssessmentState.INFORMATION_RECEIVED,
        PriorAssessmentState.DENIED,
        PriorAssessmentState.WRITTEN_OFF,
    ):
        PriorAssessmentFactory(clinic=one, state=state)
    # Waiting for the clinic, not for the coordinator.
    PriorAssessmentFactory(
        clinic=one, state=PriorAssessmentState.AWAITING_INFORMATION, information_deadline=datetime.date(2026, 7, 1)
    )
    PriorAssessmentFactory(clinic=one, state=PriorAssessmentState.APPROVED, valid_until=datetime.date(2027, 1, 1))
    PriorAssessmentFactory(clinic=ClinicFactory(), state=PriorAssessmentState.SUBMITTED)  # another region

    workload = selectors.region_workload(region=region)
    assert (workload.received.count, workload.received.amount) == (2, 12_550)
    assert workload.received.oldest == at(2026, 4, 20, 8)
    assert (workload.under_review.count, workload.under_review.amount) == (1, 7_000)
    assert workload.assessments.count == 3
    assert workload.assessments.amount is None


def test_a_state_the_region_has_no_claims_in_is_not_searched_for_its_first_claim(region, clinics):
    """The first claim of a state is read from the claims' index by state, which holds every region's claims: the
    region's summaries say it has none received, so the index is not walked through another region's."""
    one, _two = clinics
    received_claim(ClinicFactory(), at(2026, 1, 1), 9_999, N)  # another region's
    received_claim(one, at(2026, 5, 30, 9), 7_000, F, state=ClaimState.UNDER_REVIEW)

    with CaptureQueriesContext(connection) as queries:
        workload = selectors.region_workload(region=region)

    assert workload.received == selectors.Waiting(0, 0, None)
    assert (workload.under_review.count, workload.under_review.oldest) == (1, at(2026, 5, 30, 9))
    firsts = [query["sql"] for query in queries if 'FROM "claims_claim"' in query["sql"] and "ORDER BY" in query["sql"]]
    assert firsts
    assert all("'received'" not in sql for sql in firsts), firsts


def test_answered_questions_count_the_open_claims_only_however_old_the_claim(region, clinics):
    """A claim open for months with a recent answer counts, a paid claim's answered question does not."""
    one, _two = clinics
    old_open = received_claim(one, at(2025, 9, 1), 5_000, N, state=ClaimState.UNDER_REVIEW)
    Claim.objects.filter(pk=old_open.pk).update(created_at=at(2025, 9, 1))
    paid = received_claim(one, at(2026, 5, 1), 5_000, N, state=ClaimState.PAID)
    waiting = received_claim(one, at(2026, 5, 2), 5_000, N, state=ClaimState.UNDER_REVIEW)
    for claim in (old_open, paid):
        ClaimQuestionFactory(claim=claim, answer="Tand 36.", answered_at=at(2026, 6, 1), answered_by=claim.created_by)
    ClaimQuestionFactory(claim=waiting)  # not answered yet: waits for the clinic
    ClaimQuestion.objects.filter(claim=old_open).update(asked_at=at(2025, 9, 2))

    assert selectors.region_workload(region=region).answered_questions.count == 1
    Claim.objects.filter(pk__in=[old_open.pk, waiting.pk]).update(state=ClaimState.APPROVED)
    assert selectors.region_workload(region=region).answered_questions.count == 0


def test_an_empty_region_has_zeros_everywhere(region):
    workload = selectors.region_workload(region=region)
    assert (workload.received.count, workload.received.amount, workload.received.oldest) == (0, 0, None)
    assert workload.assessments.count == 0
    assert all(amounts.total == 0 for amounts in _by_month(region).values())
    assert selectors.amounts_by_clinic(region=region, period=selectors.report_period(today=TODAY)) == []
