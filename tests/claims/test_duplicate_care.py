"""Duplicate care (issue 11, point 1): the same patient, visit date, code and tooth or jaw billed twice by a clinic.

The rule is `claims.validation.duplicate_care_faults`, asked by every door through `claim_validate`, and asked
again under the clinic's care lock when claims are stored (`claims.services`). Here the rule and the service door;
the form page, the invoice file and the other clinic's claim (the review rule "möjlig dubblett") are in
tests/billing/test_duplicate_care.py."""

import datetime
import threading
from unittest import mock

import pytest
from django.db import connections
from django.utils import timezone

from claims import services
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim, ClaimState, TariffRow
from claims.services import ClaimRejected
from claims.validation import BilledCare, ValidationContext, claim_validate
from tests.eligibility.factories import CertificateFactory
from tests.kept import kept
from tests.worlds import SmallWorld

PIN = "200001012384"
DAY = datetime.timedelta(days=1)


def _visit() -> datetime.date:
    return timezone.localdate() - 5 * DAY


def _draft(reference: str, lines=None, *, pin: str = PIN) -> ClaimDraft:
    visit = _visit()
    return ClaimDraft(
        personal_identity_number=pin,
        support_form="N",
        reference=reference,
        lines=lines or [LineDraft(visit, "101")],
        patient_fees={visit: 10000},
        care_model="K1",
        patient_category="N1",
    )


def _ready(world):
    """The patient's N1 certificate in the region and the tariff of the visit; the biller, for the threads."""
    world.tariff(_visit())
    CertificateFactory(patient__personal_identity_number=PIN, region=world.region, group="N1", number="764153")
    world.biller
    return world


# Every test here that asks for the small world asks for it ready: made once per module (tests/kept.py).
world_made = kept(lambda: _ready(SmallWorld()), "world_made")


@pytest.fixture
def small_world(world_made, db) -> SmallWorld:
    return world_made.fresh()


@pytest.fixture
def world(small_world):
    return small_world


def _submit(world, draft: ClaimDraft, invoice_reference: str = "5550001", clinic=None) -> Claim:
    return services.claim_submit(
        actor=world.biller, clinic=clinic or world.clinic, invoice_reference=invoice_reference, draft=draft
    )


def _messages(world, draft: ClaimDraft, *, context=None, clinic=None) -> list[str]:
    faults = claim_validate(clinic=clinic or world.clinic, draft=draft, context=context)
    return [fault.message for fault in faults]


def test_the_same_visit_on_another_claim_of_the_clinic_is_refused_with_its_reference(world):
    _submit(world, _draft("DUP-1"))
    with pytest.raises(ClaimRejected) as rejected:
        _submit(world, _draft("DUP-2"), invoice_reference="5550002")
    day = _visit().isoformat()
    assert [fault.message for fault in rejected.value.faults] == [f"Åtgärd 101 den {day} finns redan på räkning DUP-1."]
    (fault,) = rejected.value.faults
    assert (fault.code, fault.field, fault.line, fault.visit_date, fault.line_field) == (
        "duplicate_care",
        "lines",
        0,
        _visit(),
        "code",
    )
    assert not Claim.objects.filter(reference="DUP-2").exists()


def test_the_same_claim_sent_again_is_told_its_reference_is_used_and_nothing_more(world):
    """A double click that arrives after the first is stored: the reference says it, not a duplicate per line."""
    _submit(world, _draft("DUP-1"))
    with pytest.raises(ClaimRejected) as rejected:
        _submit(world, _draft("DUP-1"), invoice_reference="5550002")
    assert [fault.code for fault in rejected.value.faults] == ["reference_used"]


def test_the_issues_example_the_same_visit_billed_twice_is_refused_the_second_time(world):
    """Patient 200001012384, code 101 on two claims of one visit: accepted before, refused now."""
    first = _submit(world, _draft("ISSUE-1"))
    again = _draft("ISSUE-2")
    assert _messages(world, again) == [
        f"Åtgärd 101 den {_visit().isoformat()} finns redan på räkning {first.reference}."
    ]


def test_the_same_code_twice_on_one_claim(world):
    visit = _visit()
    draft = _draft("DUP-3", [LineDraft(visit, "101"), LineDraft(visit, "121"), LineDraft(visit, "101")])
    with pytest.raises(ClaimRejected) as rejected:
        _submit(world, draft)
    (fault,) = rejected.value.faults
    assert fault.message == f"Åtgärd 101 den {visit.isoformat()} finns två gånger på räkningen."
    assert (fault.line, fault.visit_date) == (2, visit)


def test_a_code_the_tariff_marks_repeatable_may_be_billed_again_on_the_day(world):
    visit = _visit()
    assert TariffRow.objects.get(version=world.tariff(visit), code="901").repeatable
    _submit(world, _draft("REP-1", [LineDraft(visit, "101"), LineDraft(visit, "901", price=35000)]))
    twice = [LineDraft(visit, "121"), LineDraft(visit, "901", price=10000), LineDraft(visit, "901", price=20000)]
    assert _submit(world, _draft("REP-2", twice), invoice_reference="5550002").lines.filter(code="901").count() == 2
    # Not repeatable: the same row refused once the tariff says so.
    TariffRow.objects.filter(version=world.tariff(visit), code="901").update(repeatable=False)
    assert _messages(world, _draft("REP-3", [LineDraft(visit, "901", price=35000)])) == [
        f"Åtgärd 901 den {visit.isoformat()} finns redan på räkning REP-1."
    ]


@pytest.mark.parametrize("state", [ClaimState.DELETED, ClaimState.VOIDED])
def test_a_deleted_or_voided_claim_does_not_count(world, state):
    first = _submit(world, _draft("GONE-1"))
    Claim.objects.filter(pk=first.pk).update(state=state, void_reason="Fel patient")
    assert _submit(world, _draft("GONE-2"), invoice_reference="5550002").state == ClaimState.RECEIVED


@pytest.mark.parametrize("state", [ClaimState.UNDER_REVIEW, ClaimState.APPROVED, ClaimState.PAID, ClaimState.CREDITED])
def test_a_claim_in_any_other_state_counts(world, state):
    first = _submit(world, _draft("KEPT-1"))
    Claim.objects.filter(pk=first.pk).update(state=state)
    assert _messages(world, _draft("KEPT-2")) == [
        f"Åtgärd 101 den {_visit().isoformat()} finns redan på räkning KEPT-1."
    ]


def test_another_tooth_or_jaw_or_day_or_patient_is_other_care(world):
    visit = _visit()
    world.tariff(visit - DAY)
    _submit(world, _draft("T-1", [LineDraft(visit, "401", tooth="36"), LineDraft(visit, "825", jaw="UK")]))
    other_tooth = _draft("T-2", [LineDraft(visit, "401", tooth="37"), LineDraft(visit, "825", jaw="OK")])
    assert _messages(world, other_tooth) == []
    same_tooth = _draft("T-3", [LineDraft(visit, "401", tooth="36")])
    assert _messages(world, same_tooth) == [f"Åtgärd 401 den {visit.isoformat()} finns redan på räkning T-1."]
    other_day = _draft("T-4", [LineDraft(visit - DAY, "401", tooth="36")])
    other_day = ClaimDraft(**{**other_day.__dict__, "patient_fees": {visit - DAY: 10000}})
    assert _messages(world, other_day) == []
    # One claim may name the same code on two teeth.
    two_teeth = _draft("T-5", [LineDraft(visit, "701", tooth="11"), LineDraft(visit, "701", tooth="12")])
    assert _messages(world, two_teeth) == []


def test_one_patients_care_is_read_as_with_other_patients(world, django_assert_num_queries):
    """One patient's care comes from a query compiled once (portal.db.PreparedQuery): what the ORM's query of many
    patients finds for the patient, the first claim's reference for each piece of care."""
    visit = _visit()
    _submit(world, _draft("P-1", [LineDraft(visit, "401", tooth="36"), LineDraft(visit, "825", jaw="UK")]))
    _submit(world, _draft("P-2", [LineDraft(visit, "401", tooth="37")]), invoice_reference="5550002")
    asked = _draft("P-3", [LineDraft(visit, "101")])
    alone, with_another = BilledCare(world.clinic), BilledCare(world.clinic)
    with django_assert_num_queries(1):
        alone.load([asked])
    with_another.load([asked, _draft("P-4", pin="200001042399")])
    keys = [(PIN, visit, "401", "36", ""), (PIN, visit, "825", "", "UK"), (PIN, visit, "401", "37", "")]
    keys.append((PIN, visit, "101", "", ""))
    assert [alone.reference(key) for key in keys] == ["P-1", "P-1", "P-2", None]
    assert [with_another.reference(key) for key in keys] == ["P-1", "P-1", "P-2", None]


def test_another_clinics_claim_is_no_fault_of_the_clinic(world):
    """The clinic is never shown another clinic's claim: that is the review rule's (tests/billing)."""
    _submit(world, _draft("OC-1"), clinic=world.other_clinic)
    assert _messages(world, _draft("OC-2")) == []


def test_earlier_in_the_batch_is_earlier_in_the_file_and_only_correct_claims_count(world):
    first, faulty, second, third = (_draft(f"B-{n}") for n in range(4))
    faulty = ClaimDraft(**{**faulty.__dict__, "comment": "x" * 501})
    context = ValidationContext(clinic=world.clinic, drafts=[first, faulty, second, third])
    assert _messages(world, first, context=context) == []
    # A faulty claim is not sent, so its care does not make the next one a duplicate; it is a duplicate itself.
    assert _messages(world, faulty, context=context) == [
        "Räkningskommentaren får ha högst 500 tecken.",
        f"Åtgärd 101 den {_visit().isoformat()} finns redan i filen.",
    ]
    assert _messages(world, second, context=context) == [f"Åtgärd 101 den {_visit().isoformat()} finns redan i filen."]
    # Each later one too, and across `prepare` (the next chunk of the file).
    context.prepare([third])
    assert _messages(world, third, context=context) == [f"Åtgärd 101 den {_visit().isoformat()} finns redan i filen."]


def test_the_claim_stored_meanwhile_is_found_under_the_lock(world):
    """Validated before the other claim was stored, refused when stored: the check again under the care lock."""
    _submit(world, _draft("RACE-1"))
    with mock.patch("claims.services.claim_validate", return_value=[]), pytest.raises(ClaimRejected) as rejected:
        _submit(world, _draft("RACE-2"), invoice_reference="5550002")
    assert [fault.message for fault in rejected.value.faults] == [
        f"Åtgärd 101 den {_visit().isoformat()} finns redan på räkning RACE-1."
    ]
    assert rejected.value.reference == "RACE-2"


def test_two_identical_claims_sent_at_once_store_one(transactional_small_world):
    """Two claims of the same care under different references, both validated before either is stored."""
    world = _ready(transactional_small_world)
    validated = threading.Barrier(2)
    outcomes: list[str] = []
    real_care_lock = services.care_lock

    def after_both_validated(**kwargs):
        validated.wait(timeout=10)
        return real_care_lock(**kwargs)

    def submit(reference: str, invoice_reference: str):
        try:
            _submit(world, _draft(reference), invoice_reference=invoice_reference)
            outcomes.append("stored")
        except ClaimRejected as rejected:
            outcomes.append(",".join(fault.code for fault in rejected.faults))
        finally:
            connections.close_all()

    with mock.patch("claims.services.care_lock", after_both_validated):
        threads = [
            threading.Thread(target=submit, args=("AT-ONCE-1", "5550011")),
            threading.Thread(target=submit, args=("AT-ONCE-2", "5550012")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(outcomes) == ["duplicate_care", "stored"]
    assert Claim.objects.filter(clinic=world.clinic, reference__startswith="AT-ONCE").count() == 1


def test_a_line_credited_back_may_be_billed_again(world):
    """The clinic credits a paid line and bills it again corrected: the credited line no longer counts."""
    visit = _visit()
    first = _submit(world, _draft("CR-1", [LineDraft(visit, "101"), LineDraft(visit, "121")]))
    services.claim_approve(actor=world.coordinator, claim=first, payout_date=timezone.localdate())
    services.claim_mark_paid(actor=world.coordinator, claim=first, paid_on=timezone.localdate(), our_reference="6001")
    services.claim_credit(actor=world.biller, claim=first, line_ids=[first.lines.get(code="101").pk])
    assert _messages(world, _draft("CR-2", [LineDraft(visit, "101")])) == []
    assert _messages(world, _draft("CR-3", [LineDraft(visit, "121")])) == [
        f"Åtgärd 121 den {visit.isoformat()} finns redan på räkning CR-1."
    ]
