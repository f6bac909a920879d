"""The life of a claim: submit, review, approve, pay, credit, void, delete — each move as CLAIM_TRANSITIONS allows."""

import datetime
import threading
from collections import Counter
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.utils import timezone

from claims import services
from claims.drafts import ClaimDraft, LineDraft
from claims.models import (
    CLAIM_TRANSITIONS,
    PATIENT_FEE_CODE,
    Claim,
    ClaimEvent,
    ClaimEventKind,
    ClaimLine,
    ClaimState,
    CreditInvoice,
    CreditLine,
    Invoice,
    TariffRow,
)
from claims.services import ClaimRejected
from claims.validation import invoice_reference_fault
from clinics.models import Clinic
from portal.audit import AuditOutsideTransaction
from portal.demo import demo_load
from portal.demo.invoices import DEMO_CLINICS, demo_invoices_load
from portal.models import AuditEvent
from tests.clinics.factories import ClinicFactory, UserFactory
from tests.eligibility.factories import CertificateFactory
from tests.kept import kept

from .factories import ClaimFactory, InvoiceFactory, standard_tariff

PAYOUT_DATE = datetime.date(2026, 12, 1)
PAID_ON = datetime.date(2026, 11, 20)
PIN = "200001012384"  # Skatteverket test number; the draft's patient


def _call(target: str, *, actor, claim):
    """The service that moves a claim to `target`."""
    if target == ClaimState.UNDER_REVIEW:
        return services.claim_start_review(actor=actor, claim=claim)
    if target == ClaimState.APPROVED:
        return services.claim_approve(actor=actor, claim=claim)  # the coordinator's approval, no date yet
    if target == ClaimState.PAID:
        return services.claim_mark_paid(actor=actor, claim=claim, paid_on=PAID_ON, our_reference="518148")
    if target == ClaimState.VOIDED:
        return services.claim_void(actor=actor, claim=claim, reason="Dubbelregistrerad.")
    if target == ClaimState.DELETED:
        return services.claim_delete(actor=actor, claim=claim)
    if target == ClaimState.CREDITED:
        return services.claim_credit(actor=actor, claim=claim)
    raise AssertionError(target)


TARGETS = [state for state in ClaimState.values if state != ClaimState.RECEIVED]
ACTIONS = {
    ClaimState.UNDER_REVIEW: "claims.claim.review_started",
    ClaimState.APPROVED: "claims.claim.approved",
    ClaimState.PAID: "claims.claim.paid",
    ClaimState.VOIDED: "claims.claim.voided",
    ClaimState.DELETED: "claims.claim.deleted",
    ClaimState.CREDITED: "claims.claim.credited",
    ClaimState.RECEIVED: "claims.claim.payout_cancelled",
}


def _tariff_clinic() -> Clinic:
    clinic = ClinicFactory()
    standard_tariff(clinic.region, 2026)
    return clinic


# The same clinic and tariff for each of the module's ~120 tests: made once per module (tests/kept.py).
tariff_clinic_made = kept(_tariff_clinic, "tariff_clinic_made")


@pytest.fixture
def tariff_clinic(tariff_clinic_made, db) -> Clinic:
    return tariff_clinic_made.fresh()


def _claim_in(clinic: Clinic, state: str, **kwargs) -> Claim:
    extra = {"void_reason": "Fel patient."} if state == ClaimState.VOIDED else {}
    return ClaimFactory(invoice__clinic=clinic, state=state, **extra, **kwargs)


def _paid_claim(clinic: Clinic, *, reference: str | None = None) -> Claim:
    """A paid claim with 101 (980 kr) and 121 (410 kr) on one visit and a 100 kr patient fee: 1 290 kr."""
    claim = ClaimFactory(invoice__clinic=clinic, with_line=False, state=ClaimState.PAID, paid_on=PAID_ON)
    if reference:
        Claim.objects.filter(pk=claim.pk).update(reference=reference)
    rows = {row.code: row for row in TariffRow.objects.filter(version__region=clinic.region)}
    visit = datetime.date(2026, 10, 1)
    for position, (code, amount) in enumerate([("101", 98000), ("121", 41000), (PATIENT_FEE_CODE, -10000)], 1):
        ClaimLine.objects.create(
            claim=claim, position=position, visit_date=visit, code=code, tariff_row=rows[code], amount=amount
        )
    Claim.objects.filter(pk=claim.pk).update(total=129000, patient_fee_total=-10000)
    Invoice.objects.filter(pk=claim.invoice_id).update(our_reference="518148", payout_date=PAID_ON)
    claim.refresh_from_db()
    return claim


# Every move of the transition table -------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("start", ClaimState.values)
def test_every_transition_is_allowed_exactly_as_the_table_says(tariff_clinic, start, target):
    claim = _paid_claim(tariff_clinic) if start == ClaimState.PAID else _claim_in(tariff_clinic, start)
    Claim.objects.filter(pk=claim.pk).update(state=start)
    claim.refresh_from_db()
    actor = UserFactory()
    events = ClaimEvent.objects.filter(claim=claim).count()

    if target in CLAIM_TRANSITIONS[start]:
        _call(target, actor=actor, claim=claim)
        claim.refresh_from_db()
        assert claim.state == target
        event = ClaimEvent.objects.filter(claim=claim).latest("id")
        assert (event.from_state, event.to_state, event.actor) == (start, target, actor)
        assert AuditEvent.objects.filter(action=ACTIONS[target], object_id=str(claim.pk), actor=actor).exists()
    elif start == target and target != ClaimState.CREDITED:
        # Already there: nothing happens, nothing is recorded (a double click is harmless).
        _call(target, actor=actor, claim=claim)
        claim.refresh_from_db()
        assert claim.state == start
        assert ClaimEvent.objects.filter(claim=claim).count() == events
    else:
        with pytest.raises(ValidationError):
            _call(target, actor=actor, claim=claim)
        claim.refresh_from_db()
        assert claim.state == start
        assert ClaimEvent.objects.filter(claim=claim).count() == events


KINDS = {
    # Back to received: only a cancelled payout run moves an approved claim there (claims_payout_cancel).
    ClaimState.RECEIVED: ClaimEventKind.PAYOUT_CANCELLED,
    ClaimState.UNDER_REVIEW: ClaimEventKind.REVIEW_STARTED,
    ClaimState.APPROVED: ClaimEventKind.APPROVED,
    ClaimState.PAID: ClaimEventKind.PAID,
    ClaimState.VOIDED: ClaimEventKind.VOIDED,
    ClaimState.DELETED: ClaimEventKind.DELETED,
    ClaimState.CREDITED: ClaimEventKind.CREDITED,
}


def _move(claims, target: str, actor=None):
    """Through the one mover every service calls."""
    services.claims_move(
        actor=actor,
        claims=claims,
        to_state=target,
        event_kind=KINDS[target],
        action=ACTIONS[target],
        values={"void_reason": "Fel patient."} if target == ClaimState.VOIDED else None,
    )


@pytest.mark.parametrize("target", ClaimState.values)
@pytest.mark.parametrize("start", ClaimState.values)
def test_the_mover_moves_exactly_as_the_table_says_and_refuses_the_rest_in_words(tariff_clinic, start, target):
    claim = _claim_in(tariff_clinic, start)
    actor = UserFactory()
    events = ClaimEvent.objects.filter(claim=claim).count()

    if CLAIM_TRANSITIONS.allows(start, target):
        _move([claim], target, actor)
        assert claim.state == target  # the instance too
        claim.refresh_from_db()
        assert claim.state == target
        event = ClaimEvent.objects.filter(claim=claim).latest("id")
        assert (event.from_state, event.to_state, event.kind, event.actor) == (start, target, KINDS[target], actor)
        audit = AuditEvent.objects.get(action=ACTIONS[target], object_id=str(claim.pk))
        assert (audit.before["state"], audit.after["state"], audit.clinic_id) == (start, target, tariff_clinic.pk)
    else:
        with pytest.raises(ValidationError) as refused:
            _move([claim], target, actor)
        assert refused.value.code == "state"
        assert refused.value.messages == [
            f"Räkningen {claim.reference} har status {ClaimState(start).label.lower()} "
            f"och kan inte bli {ClaimState(target).label.lower()}."
        ]
        claim.refresh_from_db()
        assert claim.state == start
        assert ClaimEvent.objects.filter(claim=claim).count() == events


@pytest.mark.django_db(transaction=True)
def test_the_mover_refuses_to_run_outside_a_transaction():
    claim = ClaimFactory(state=ClaimState.RECEIVED)
    with pytest.raises(AuditOutsideTransaction):
        _move([claim], ClaimState.UNDER_REVIEW)
    claim.refresh_from_db()
    assert claim.state == ClaimState.RECEIVED


def test_a_claim_in_a_payout_is_refused_voiding_with_its_own_words(tariff_clinic):
    claim = _claim_in(tariff_clinic, ClaimState.APPROVED, approved_on=PAYOUT_DATE)
    with pytest.raises(ValidationError) as refused:
        _move([claim], ClaimState.VOIDED)
    assert refused.value.code == "in_payout"
    assert refused.value.messages == [
        f"Räkningen {claim.reference} ingår i utbetalningen {PAYOUT_DATE.isoformat()} och kan inte makuleras."
    ]


def test_one_claim_that_may_not_move_stops_them_all_before_anything_is_written(tariff_clinic):
    movable = [_claim_in(tariff_clinic, ClaimState.RECEIVED) for _ in range(3)]
    paid = _claim_in(tariff_clinic, ClaimState.PAID)
    with pytest.raises(ValidationError):
        _move([*movable, paid], ClaimState.APPROVED)
    claims = Claim.objects.filter(pk__in=[c.pk for c in [*movable, paid]])
    assert set(claims.values_list("state", flat=True)) == {ClaimState.RECEIVED, ClaimState.PAID}
    assert not ClaimEvent.objects.filter(claim__in=claims).exists()
    assert not AuditEvent.objects.filter(
        object_type="claims.claim", object_id__in=[str(c.pk) for c in [*movable, paid]]
    ).exists()


def test_the_mover_takes_as_many_queries_for_many_claims_of_many_clinics_as_for_few(db, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(count: int) -> int:
        clinics = [ClinicFactory(), ClinicFactory()]
        claims = [_claim_in(clinics[n % 2], ClaimState.RECEIVED) for n in range(count)]
        with CaptureQueriesContext(connection) as queries:
            _move(claims, ClaimState.UNDER_REVIEW)
        assert Claim.objects.filter(pk__in=[c.pk for c in claims], state=ClaimState.UNDER_REVIEW).count() == count
        assert ClaimEvent.objects.filter(claim__in=claims, kind=ClaimEventKind.REVIEW_STARTED).count() == count
        return len(queries)

    assert queries_for(30) == queries_for(3)


def test_claims_move_in_one_update_whose_ids_are_one_parameter(tariff_clinic):
    """However many claims, one UPDATE: their ids are one array parameter (a placeholder per id would stop at
    PostgreSQL's 65 535 parameters, and cost the Python time of a payout run's 100 000)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    claims = [_claim_in(tariff_clinic, ClaimState.RECEIVED) for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        _move(claims, ClaimState.DELETED)
    assert len([q for q in queries.captured_queries if q["sql"].startswith('UPDATE "claims_claim"')]) == 1
    assert set(Claim.objects.filter(pk__in=[c.pk for c in claims]).values_list("state", flat=True)) == {
        ClaimState.DELETED
    }
    with transaction.atomic():
        services._claims_update(list(range(10**9, 10**9 + 70_000)), {"updated_at": timezone.now()})  # no such claims


def test_the_table_names_every_state():
    assert set(CLAIM_TRANSITIONS) == set(ClaimState.values)
    for targets in CLAIM_TRANSITIONS.values():
        assert set(targets) <= set(ClaimState.values)


# The state services' details -------------------------------------------------------------------------------


def test_approval_keeps_the_payout_date_and_a_second_approval_changes_nothing(tariff_clinic):
    claim = _claim_in(tariff_clinic, ClaimState.RECEIVED)
    actor = UserFactory()
    services.claim_approve(actor=actor, claim=claim, payout_date=PAYOUT_DATE)
    services.claim_approve(actor=actor, claim=claim, payout_date=PAYOUT_DATE + datetime.timedelta(days=7))
    claim.refresh_from_db()
    assert claim.state == ClaimState.APPROVED and claim.approved_on == PAYOUT_DATE
    assert ClaimEvent.objects.filter(claim=claim, to_state=ClaimState.APPROVED).count() == 1


def test_a_claim_approved_without_a_date_gets_the_payout_date_once(tariff_clinic):
    claim = _claim_in(tariff_clinic, ClaimState.UNDER_REVIEW)
    coordinator, run_by = UserFactory(), UserFactory()
    services.claim_approve(actor=coordinator, claim=claim)
    claim.refresh_from_db()
    assert (claim.state, claim.approved_on) == (ClaimState.APPROVED, None)

    services.claim_approve(actor=run_by, claim=claim, payout_date=PAYOUT_DATE)
    services.claim_approve(actor=run_by, claim=claim, payout_date=PAYOUT_DATE + datetime.timedelta(days=7))

    claim.refresh_from_db()
    assert (claim.state, claim.approved_on) == (ClaimState.APPROVED, PAYOUT_DATE)
    scheduled = ClaimEvent.objects.filter(claim=claim).latest("id")
    assert (scheduled.from_state, scheduled.to_state, scheduled.actor) == (
        ClaimState.APPROVED,
        ClaimState.APPROVED,
        run_by,
    )
    assert (scheduled.kind, scheduled.params) == (
        ClaimEventKind.SCHEDULED_FOR_PAYOUT,
        {"date": PAYOUT_DATE.isoformat()},
    )
    assert scheduled.text == f"Godkänd för utbetalning {PAYOUT_DATE.isoformat()}"
    assert ClaimEvent.objects.filter(claim=claim, kind=ClaimEventKind.SCHEDULED_FOR_PAYOUT).count() == 1
    assert AuditEvent.objects.filter(action="claims.claim.scheduled", object_id=str(claim.pk)).count() == 1


def test_payment_sets_the_invoice_payout_date_and_our_reference(tariff_clinic):
    claim = _claim_in(tariff_clinic, ClaimState.APPROVED)
    services.claim_mark_paid(actor=UserFactory(), claim=claim, paid_on=PAID_ON, our_reference=" 518148 ")
    claim.refresh_from_db()
    claim.invoice.refresh_from_db()
    assert claim.paid_on == PAID_ON
    assert (claim.invoice.our_reference, claim.invoice.payout_date) == ("518148", PAID_ON)
    assert AuditEvent.objects.filter(action="claims.invoice.paid", object_id=str(claim.invoice_id)).exists()


def test_payment_needs_our_reference(tariff_clinic):
    claim = _claim_in(tariff_clinic, ClaimState.APPROVED)
    with pytest.raises(ValidationError) as error:
        services.claim_mark_paid(actor=UserFactory(), claim=claim, paid_on=PAID_ON, our_reference=" ")
    assert "our_reference" in error.value.message_dict


def test_voiding_needs_a_reason_and_keeps_it(tariff_clinic):
    claim = _claim_in(tariff_clinic, ClaimState.UNDER_REVIEW)
    with pytest.raises(ValidationError) as error:
        services.claim_void(actor=UserFactory(), claim=claim, reason="  ")
    assert "reason" in error.value.message_dict
    services.claim_void(actor=UserFactory(), claim=claim, reason="Patienten saknar intyg.")
    claim.refresh_from_db()
    assert claim.state == ClaimState.VOIDED and claim.void_reason == "Patienten saknar intyg."
    voided = ClaimEvent.objects.get(claim=claim, to_state=ClaimState.VOIDED)
    assert (voided.kind, voided.params) == (ClaimEventKind.VOIDED, {"reason": "Patienten saknar intyg."})


@pytest.mark.parametrize("state", [ClaimState.APPROVED, ClaimState.PAID, ClaimState.CREDITED, ClaimState.VOIDED])
def test_a_claim_can_be_deleted_only_while_it_is_open(tariff_clinic, state):
    claim = _claim_in(tariff_clinic, state)
    with pytest.raises(ValidationError) as error:
        services.claim_delete(actor=UserFactory(), claim=claim)
    assert error.value.code == "state"
    assert "kan inte raderas" in error.value.messages[0]


def test_deleting_an_invoice_deletes_its_open_claims_only(tariff_clinic):
    invoice = InvoiceFactory(clinic=tariff_clinic)
    received = _claim_in(tariff_clinic, ClaimState.RECEIVED, invoice=invoice)
    in_review = _claim_in(tariff_clinic, ClaimState.UNDER_REVIEW, invoice=invoice)
    approved = _claim_in(tariff_clinic, ClaimState.APPROVED, invoice=invoice)
    services.invoice_delete(actor=UserFactory(), invoice=invoice)
    states = dict(Claim.objects.filter(invoice=invoice).values_list("pk", "state"))
    assert states == {
        received.pk: ClaimState.DELETED,
        in_review.pk: ClaimState.DELETED,
        approved.pk: ClaimState.APPROVED,
    }
    assert AuditEvent.objects.filter(action="claims.invoice.deleted", object_id=str(invoice.pk)).exists()
    # Nothing open is left: refused, and nothing changes.
    with pytest.raises(ValidationError):
        services.invoice_delete(actor=UserFactory(), invoice=invoice)


def test_deleting_a_deleted_invoice_again_changes_nothing(tariff_clinic):
    claim = _claim_in(tariff_clinic, ClaimState.RECEIVED)
    services.invoice_delete(actor=UserFactory(), invoice=claim.invoice)
    services.invoice_delete(actor=UserFactory(), invoice=claim.invoice)
    assert ClaimEvent.objects.filter(claim=claim, to_state=ClaimState.DELETED).count() == 1


def test_voiding_an_invoice_voids_what_is_not_paid(tariff_clinic):
    invoice = InvoiceFactory(clinic=tariff_clinic)
    approved = _claim_in(tariff_clinic, ClaimState.APPROVED, invoice=invoice)
    deleted = _claim_in(tariff_clinic, ClaimState.DELETED, invoice=invoice)
    services.invoice_void(actor=UserFactory(), invoice=invoice, reason="Fel klinik.")
    approved.refresh_from_db()
    deleted.refresh_from_db()
    assert approved.state == ClaimState.VOIDED and approved.void_reason == "Fel klinik."
    assert deleted.state == ClaimState.DELETED
    services.invoice_void(actor=UserFactory(), invoice=invoice, reason="Fel klinik.")  # again: nothing to do
    assert ClaimEvent.objects.filter(claim=approved, to_state=ClaimState.VOIDED).count() == 1


# Credits ----------------------------------------------------------------------------------------------------


def test_crediting_a_whole_claim_credits_its_total(tariff_clinic):
    claim = _paid_claim(tariff_clinic)
    actor = UserFactory()
    credit = services.claim_credit(actor=actor, claim=claim)
    claim.refresh_from_db()
    assert claim.state == ClaimState.CREDITED
    assert credit.total == claim.total == 129000
    assert credit.reference == f"{claim.invoice.reference}_Kredit"
    assert CreditLine.objects.filter(credit_invoice=credit).count() == 3  # the fee line too
    assert AuditEvent.objects.filter(action="claims.credit_invoice.created", object_id=str(credit.pk)).exists()
    assert ClaimEvent.objects.filter(claim=claim, to_state=ClaimState.CREDITED, actor=actor).exists()


def test_crediting_selected_lines_then_the_rest(tariff_clinic):
    claim = _paid_claim(tariff_clinic)
    line_101 = claim.lines.get(code="101")
    first = services.claim_credit(actor=UserFactory(), claim=claim, line_ids=[line_101.pk])
    claim.refresh_from_db()
    assert first.total == 98000
    assert claim.state == ClaimState.PAID  # 121 is not credited yet
    assert ClaimEvent.objects.filter(claim=claim, from_state=ClaimState.PAID, to_state=ClaimState.PAID).exists()

    rest = services.claim_credit(actor=UserFactory(), claim=claim)
    claim.refresh_from_db()
    assert claim.state == ClaimState.CREDITED
    assert rest.total == 41000 - 10000  # the last treatment line carries the fee deduction
    assert first.total + rest.total == claim.total
    assert [first.reference, rest.reference] == [
        f"{claim.invoice.reference}_Kredit",
        f"{claim.invoice.reference}_Kredit-2",
    ]


def test_selecting_the_last_treatment_line_credits_the_claim(tariff_clinic):
    claim = _paid_claim(tariff_clinic)
    lines = list(claim.lines.exclude(code=PATIENT_FEE_CODE).values_list("pk", flat=True))
    credit = services.claim_credit(actor=UserFactory(), claim=claim, line_ids=lines)
    claim.refresh_from_db()
    assert claim.state == ClaimState.CREDITED and credit.total == claim.total


def test_a_line_is_never_credited_twice(tariff_clinic):
    claim = _paid_claim(tariff_clinic)
    line_101 = claim.lines.get(code="101")
    services.claim_credit(actor=UserFactory(), claim=claim, line_ids=[line_101.pk])
    with pytest.raises(ValidationError) as error:
        services.claim_credit(actor=UserFactory(), claim=claim, line_ids=[line_101.pk])
    assert error.value.messages == ["Åtgärden är redan krediterad."]
    assert CreditInvoice.objects.filter(invoice=claim.invoice).count() == 1


def test_a_credited_claim_cannot_be_credited_again(tariff_clinic):
    claim = _paid_claim(tariff_clinic)
    services.claim_credit(actor=UserFactory(), claim=claim)
    with pytest.raises(ValidationError) as error:
        services.claim_credit(actor=UserFactory(), claim=claim)
    assert error.value.code == "already_credited"


def test_the_patient_fee_cannot_be_credited_on_its_own(tariff_clinic):
    claim = _paid_claim(tariff_clinic)
    fee = claim.lines.get(code=PATIENT_FEE_CODE)
    with pytest.raises(ValidationError) as error:
        services.claim_credit(actor=UserFactory(), claim=claim, line_ids=[fee.pk])
    assert "line_ids" in error.value.message_dict


def test_lines_of_another_claim_cannot_be_credited(tariff_clinic):
    claim, other = _paid_claim(tariff_clinic), _paid_claim(tariff_clinic)
    with pytest.raises(ValidationError):
        services.claim_credit(actor=UserFactory(), claim=claim, line_ids=[other.lines.first().pk])
    assert not CreditInvoice.objects.filter(invoice__in=[claim.invoice, other.invoice]).exists()


@pytest.mark.parametrize("state", [ClaimState.RECEIVED, ClaimState.APPROVED, ClaimState.VOIDED])
def test_only_paid_claims_are_credited(tariff_clinic, state):
    claim = _claim_in(tariff_clinic, state)
    with pytest.raises(ValidationError) as error:
        services.claim_credit(actor=UserFactory(), claim=claim)
    assert error.value.code == "state"


@pytest.mark.django_db(transaction=True)
def test_two_credits_of_the_same_line_at_once_make_one_credit():
    clinic = ClinicFactory()
    standard_tariff(clinic.region, 2026)
    claim = _paid_claim(clinic)
    line_id = claim.lines.get(code="101").pk
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def credit(actor):
        try:
            barrier.wait(timeout=10)
            services.claim_credit(actor=actor, claim=claim, line_ids=[line_id])
            outcomes.append("credited")
        except ValidationError as error:
            outcomes.append(error.messages[0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=credit, args=(UserFactory(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["credited", "Åtgärden är redan krediterad."]
    assert CreditInvoice.objects.filter(invoice=claim.invoice).count() == 1
    assert CreditLine.objects.filter(claim_line_id=line_id).count() == 1


# Submitting -------------------------------------------------------------------------------------------------


def _draft(reference: str = "R-1001", *, days_ago: int = 5, codes=("101", "121")) -> ClaimDraft:
    visit = timezone.localdate() - datetime.timedelta(days=days_ago)
    return ClaimDraft(
        personal_identity_number="20000101-2384",
        support_form="N",
        reference=reference,
        lines=[LineDraft(visit_date=visit, code=code) for code in codes],
        patient_fees={visit: 10000},
        care_model="K1",
        patient_category="N1",
        comment="Kontroll",
    )


@pytest.fixture
def submit_world(small_world):
    return _ready_to_submit(small_world)


def _ready_to_submit(world):
    """The small world where the draft's patient can be billed: an N1 certificate in the region, the tariff of
    the draft's visits. The threads of a concurrency test share the biller, so it is made here too."""
    visit = timezone.localdate() - datetime.timedelta(days=5)
    world.tariff(visit, visit - datetime.timedelta(days=1))
    CertificateFactory(patient__personal_identity_number=PIN, region=world.region, group="N1", number="764153")
    world.biller
    return world


def test_a_valid_claim_is_stored_with_its_lines_fee_and_totals(submit_world):
    claim = services.claim_submit(
        actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="123455", draft=_draft()
    )
    prices = dict(TariffRow.objects.filter(version=claim.lines.first().tariff_row.version).values_list("code", "price"))
    assert [(line.code, line.amount) for line in claim.lines.all()] == [
        ("101", prices["101"]),
        ("121", prices["121"]),
        (PATIENT_FEE_CODE, -10000),
    ]
    assert claim.total == prices["101"] + prices["121"] - 10000
    assert claim.patient_fee_total == -10000
    assert claim.state == ClaimState.RECEIVED
    assert claim.patient.personal_identity_number == PIN
    assert claim.certificate.number == "764153"
    assert (claim.care_model.code, claim.patient_category.code) == ("K1", "N1")
    assert claim.invoice.reference == "123455" and claim.invoice.clinic == submit_world.clinic
    assert ClaimEvent.objects.filter(claim=claim, from_state="", to_state=ClaimState.RECEIVED).exists()
    assert AuditEvent.objects.filter(action="claims.claim.submitted", object_id=str(claim.pk)).exists()


def test_a_claim_with_faults_is_not_stored(submit_world):
    draft = _draft(days_ago=-3)  # in the future
    with pytest.raises(ClaimRejected) as rejected:
        services.claim_submit(
            actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="123455", draft=draft
        )
    assert "visit_in_future" in {fault.code for fault in rejected.value.faults}
    assert not Claim.objects.filter(clinic=submit_world.clinic, reference="R-1001").exists()
    assert not Invoice.objects.filter(clinic=submit_world.clinic, reference="123455").exists()


@pytest.mark.parametrize(
    "reference,code", [(" ", "invoice_reference_required"), ("1" * 26, "invoice_reference_invalid")]
)
def test_the_invoice_number_is_required_and_at_most_25_characters(submit_world, reference, code):
    with pytest.raises(ClaimRejected) as rejected:
        services.claim_submit(
            actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference=reference, draft=_draft()
        )
    assert [fault.code for fault in rejected.value.faults] == [code]


def test_claims_sent_the_same_day_share_the_invoice(submit_world):
    first = services.claim_submit(
        actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="777", draft=_draft()
    )
    second = services.claim_submit(
        actor=submit_world.biller,
        clinic=submit_world.clinic,
        invoice_reference="777",
        draft=_draft("R-1002", days_ago=6),
    )
    assert first.invoice_id == second.invoice_id


def test_an_invoice_number_in_use_is_refused_once_a_claim_moved_on(submit_world):
    # Under review is still under behandling (review rules may put a claim there as it arrives); approved is not.
    first = services.claim_submit(
        actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="777", draft=_draft()
    )
    services.claim_approve(actor=submit_world.coordinator, claim=first)
    with pytest.raises(ClaimRejected) as rejected:
        services.claim_submit(
            actor=submit_world.biller,
            clinic=submit_world.clinic,
            invoice_reference="777",
            draft=_draft("R-1002", days_ago=6),
        )
    assert [(f.code, f.message) for f in rejected.value.faults] == [
        ("invoice_reference_used", "OCR/Fakturanumret har redan använts.")
    ]
    assert not Claim.objects.filter(clinic=submit_world.clinic, reference="R-1002").exists()


def test_an_invoice_number_from_an_earlier_day_is_refused(submit_world):
    first = services.claim_submit(
        actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="777", draft=_draft()
    )
    Invoice.objects.filter(pk=first.invoice_id).update(received_at=timezone.now() - datetime.timedelta(days=1))
    with pytest.raises(ClaimRejected) as rejected:
        services.claim_submit(
            actor=submit_world.biller,
            clinic=submit_world.clinic,
            invoice_reference="777",
            draft=_draft("R-1002", days_ago=6),
        )
    assert rejected.value.faults[0].code == "invoice_reference_used"


def test_one_answer_to_may_this_invoice_number_be_used(submit_world):
    first = services.claim_submit(
        actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="777", draft=_draft()
    )

    def answer(reference, *, may_join_open):
        fault = invoice_reference_fault(clinic=submit_world.clinic, reference=reference, may_join_open=may_join_open)
        return fault and fault.code

    # Today's invoice with every claim still open: the web form may join it, a file may not.
    assert answer("777", may_join_open=True) is None
    assert answer("777", may_join_open=False) == "invoice_reference_used"
    assert answer("778", may_join_open=False) is None
    assert answer(" ", may_join_open=True) == "invoice_reference_required"
    assert answer("7" * 26, may_join_open=True) == "invoice_reference_invalid"
    Invoice.objects.filter(pk=first.invoice_id).update(received_at=timezone.now() - datetime.timedelta(days=1))
    assert answer("777", may_join_open=True) == "invoice_reference_used"


def test_the_same_invoice_number_at_another_clinic_is_another_invoice(submit_world):
    first = services.claim_submit(
        actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="777", draft=_draft()
    )
    other = InvoiceFactory(clinic=submit_world.other_clinic, reference="777")
    assert first.invoice_id != other.pk


def test_a_reference_taken_between_validation_and_saving_is_reported_as_used(submit_world):
    """What the losing one of two simultaneous submits meets: the database's unique reference."""
    services.claim_submit(
        actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="777", draft=_draft()
    )
    with mock.patch("claims.services.claim_validate", return_value=[]), pytest.raises(ClaimRejected) as rejected:
        services.claim_submit(
            actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="777", draft=_draft()
        )
    assert [fault.code for fault in rejected.value.faults] == ["reference_used"]
    assert Claim.objects.filter(clinic=submit_world.clinic, reference="R-1001").count() == 1


def test_two_submits_of_the_same_claim_at_once_store_one(transactional_small_world):
    submit_world = _ready_to_submit(transactional_small_world)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit():
        try:
            barrier.wait(timeout=10)
            services.claim_submit(
                actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="888", draft=_draft()
            )
            outcomes.append("stored")
        except ClaimRejected as rejected:
            outcomes.append(",".join(fault.code for fault in rejected.faults))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["reference_used", "stored"]
    assert Claim.objects.filter(clinic=submit_world.clinic, reference="R-1001").count() == 1
    assert Invoice.objects.filter(clinic=submit_world.clinic, reference="888").count() == 1


# The demo ---------------------------------------------------------------------------------------------------


def test_the_demo_has_invoices_in_every_state_at_both_demo_clinics(world):
    for demo in DEMO_CLINICS:
        clinic = Clinic.objects.get(region__code=demo.region, number=demo.number)
        states = set(Claim.objects.filter(clinic=clinic, reference__startswith="DEMO-").values_list("state", flat=True))
        assert states == {
            ClaimState.RECEIVED,
            ClaimState.UNDER_REVIEW,
            ClaimState.APPROVED,
            ClaimState.PAID,
            ClaimState.CREDITED,
            ClaimState.VOIDED,
        }
        assert Invoice.objects.filter(clinic=clinic).exclude(our_reference="").exists()
        assert CreditInvoice.objects.filter(clinic=clinic).exists()
        assert Claim.objects.filter(clinic=clinic, state=ClaimState.VOIDED).exclude(void_reason="").exists()


def test_loading_the_demo_again_changes_no_invoice(world):
    before = (Claim.objects.count(), Invoice.objects.count(), CreditInvoice.objects.count(), ClaimEvent.objects.count())
    demo_load()
    after = (Claim.objects.count(), Invoice.objects.count(), CreditInvoice.objects.count(), ClaimEvent.objects.count())
    assert after == before


def test_the_demo_skips_a_region_without_a_tariff(world):
    # The test database holds the demo already: with tariffs the loader finds its invoices in place ...
    with_tariff = Counter()
    demo_invoices_load(with_tariff)
    assert with_tariff["unchanged"] > 0
    # ... without one it does not look at them at all, and creates nothing.
    claims = Claim.objects.count()
    without_tariff = Counter()
    with mock.patch("portal.demo.invoices._tariff_covers", return_value=False):
        demo_invoices_load(without_tariff)
    assert sum(without_tariff.values()) == 0
    assert Claim.objects.count() == claims
