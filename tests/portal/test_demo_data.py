"""The demo data loads, loading it again changes nothing, and only the tests that ask for it see it."""

import re
from pathlib import Path

from django.core.management import call_command
from django.utils import timezone

from claims.models import Claim, ClaimState, Invoice
from claims.tariffs import TariffBook
from clinics.models import Clinic, ClinicMembership, Region, RegionMembership, User
from eligibility.models import PriorAssessmentLine
from payouts import bankdays
from payouts.models import PayoutInvoice, PayoutRun, PayoutRunState, Repayment
from portal.demo import DEMO_PASSWORD, demo_load
from review.models import ClaimQuestion
from tests import conftest as tests_conftest


def _state():
    return {
        model.__name__: sorted(model.objects.values_list(*[f.attname for f in model._meta.concrete_fields]))
        for model in (Region, Clinic, User, ClinicMembership, RegionMembership)
    }


def test_second_load_changes_nothing(world, capsys):
    call_command("load_demo")
    first = _state()
    call_command("load_demo")
    assert "0 created, 0 changed" in capsys.readouterr().out
    assert _state() == first


def test_demo_world_matches_the_readme(world):
    demo_load()
    assert {c.number for c in Clinic.objects.filter(region__code="vg")} == {"31", "32"}
    assert {c.number for c in Clinic.objects.filter(region__code="dalarna")} == {"2001"}
    for email in (
        "fakturerare@demo.test",
        "dalarna@demo.test",
        "admin31@demo.test",
        "samordnare.vg@demo.test",
        "samordnare.dalarna@demo.test",
        "regionadmin@demo.test",
        "system@demo.test",
    ):
        assert User.objects.get(email=email).check_password(DEMO_PASSWORD)
    assert list(User.objects.filter(is_system_admin=True).values_list("email", flat=True)) == ["system@demo.test"]
    vg = Region.objects.get(code="vg")
    assert (vg.billing_deadline_months, vg.billing_deadline_basis) == (6, "treatment_day")
    assert list(vg.care_models.values_list("code", flat=True)) == ["K1", "M1", "M2", "M3", "P"]
    s_codes = set(vg.patient_categories.filter(support_form="S").values_list("code", flat=True))
    assert s_codes == {f"S{i}" for i in range(1, 13)} | {"S15"}
    dalarna = Region.objects.get(code="dalarna")
    assert (dalarna.billing_deadline_months, dalarna.billing_deadline_basis) == (3, "end_of_treatment_month")
    assert dalarna.fee_exempt_from_age == 85 and dalarna.fee_exempt_certificate_groups == ["N2"]


def test_a_test_that_does_not_ask_for_the_demo_does_not_find_it(db):
    """Run before every test on the demo, whatever else is selected (tests/conftest.py), so a test that reads
    the demo without asking for `world` fails here and in every run."""
    assert not Region.objects.exists() and not User.objects.exists()


class FakeItem:
    def __init__(self, name: str, fixturenames=(), markers=()):
        self.path = Path(name)
        self.name = name
        self.fixturenames = list(fixturenames)
        self.markers = list(markers)

    def add_marker(self, marker):
        self.markers.append(marker.name)

    def get_closest_marker(self, name):
        return name if name in self.markers else None


def test_the_tests_on_the_demo_and_the_browser_tests_run_after_the_others_in_their_own_order():
    items = [
        FakeItem("world_db", ["db", "world"]),
        FakeItem("small_db", ["db", "small_world"]),
        FakeItem("world_db_2", ["db", "world"]),
        FakeItem("small_transactional", ["transactional_db", "transactional_small_world"]),
        FakeItem("world_transactional", ["transactional_db", "transactional_world"]),
        FakeItem("browser_without_world", ["live_server"], markers=["browser"]),
        FakeItem("no_db"),
    ]
    tests_conftest.pytest_collection_modifyitems(None, items)
    assert [item.name for item in items] == [
        "small_db",
        "small_transactional",
        "no_db",
        "world_db",
        "world_db_2",
        "world_transactional",
        "browser_without_world",
    ]


# The demo obeys the portal's own rules -----------------------------------------------------------------------


def test_the_demo_pays_and_approves_on_bank_days_only(world):
    run_days = set(PayoutRun.objects.values_list("payout_date", flat=True))
    approved = set(Claim.objects.exclude(approved_on=None).values_list("approved_on", flat=True))
    paid = set(Claim.objects.exclude(paid_on=None).values_list("paid_on", flat=True))
    assert run_days and paid
    not_bank_days = sorted(day for day in run_days | approved | paid if not bankdays.is_bank_day(day))
    assert not not_bank_days, [f"{day} {day:%A} {bankdays.holiday_name(day)}" for day in not_bank_days]


def test_every_demo_invoice_came_in_before_it_was_paid(world):
    early = [
        (claim.reference, claim.paid_on, timezone.localdate(claim.invoice.received_at))
        for claim in Claim.objects.exclude(paid_on=None).select_related("invoice")
        if timezone.localdate(claim.invoice.received_at) > claim.paid_on
    ]
    assert not early


def test_every_vår_referens_of_the_demo_has_six_digits(world):
    references = [
        *Invoice.objects.values_list("our_reference", flat=True),
        *PayoutInvoice.objects.values_list("our_reference", flat=True),
        *Repayment.objects.values_list("our_reference", flat=True),
    ]
    assert [reference for reference in references if reference and not re.fullmatch(r"\d{6}", reference)] == []


def test_the_demos_questions_fit_their_region(world):
    # A question about a vårdmodell only where the region has vårdmodeller.
    regions_without_care_models = Region.objects.exclude(care_models__isnull=False)
    assert regions_without_care_models.filter(code="dalarna").exists()
    misplaced = ClaimQuestion.objects.filter(
        claim__clinic__region__in=regions_without_care_models, question__icontains="vårdmodell"
    )
    assert not misplaced.exists(), list(misplaced.values_list("question", flat=True))


def test_every_paid_demo_claim_was_paid_by_a_payout_run_with_its_notices(world):
    paid = Claim.objects.filter(state__in=(ClaimState.PAID, ClaimState.CREDITED))
    assert paid.exists()
    outside_a_run = paid.filter(payout__isnull=True)
    assert not outside_a_run.exists(), list(outside_a_run.values_list("reference", flat=True))
    # A claim paid on the day of its run, and every paid month has its run.
    assert not [
        c.reference
        for c in paid.select_related("payout__payout_invoice__payment__run")
        if c.paid_on != c.payout.payout_invoice.payment.run.payout_date
    ]
    runs = PayoutRun.objects.filter(state=PayoutRunState.PAID)
    months = {(claim.clinic.region_id, claim.paid_on.replace(day=1)) for claim in paid.select_related("clinic")}
    run_months = {(run.region_id, run.payout_date.replace(day=1)) for run in runs}
    assert months <= run_months
    # Each run sent its utbetalningsbesked: one per clinic paid, each sent, with the invoices it pays.
    for run in PayoutRun.objects.exclude(state=PayoutRunState.CANCELLED):
        payments = list(run.payments.all())
        assert payments, run
        assert all(payment.notice_sent_at is not None for payment in payments), run
        assert all(payment.invoices.exists() for payment in payments), run


def test_the_demos_prior_assessments_are_priced_from_the_tariff(world):
    book = {}
    wrong = []
    for line in PriorAssessmentLine.objects.select_related("assessment__region"):
        assessment = line.assessment
        day = assessment.planned_date or timezone.localdate(assessment.created_at)
        tariff = book.setdefault(assessment.region_id, TariffBook(assessment.region))
        row = tariff.row(day, line.code)
        fixed = row is not None and row.price is not None
        if fixed and (line.estimated_price != row.price or line.approved_amount not in (None, row.price)):
            wrong.append((assessment.number, line.code, line.estimated_price, line.approved_amount, row.price))
    assert PriorAssessmentLine.objects.exists()
    assert wrong == []
