"""The coordinator's actions through the services, from every state: approve, ask the clinic, void; and the answer."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing import selectors as billing_selectors
from claims import services as claim_services
from claims.models import Claim, ClaimEvent, ClaimEventKind, ClaimState
from claims.selectors import claim_status
from portal.models import AuditEvent
from review import services
from review.models import ClaimQuestion
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.clinics.factories import ClinicFactory, UserFactory

from .factories import ClaimQuestionFactory

ALL_STATES = ClaimState.values
APPROVABLE = {ClaimState.RECEIVED, ClaimState.UNDER_REVIEW}
QUESTIONABLE = {ClaimState.RECEIVED, ClaimState.UNDER_REVIEW}
VOIDABLE = {ClaimState.RECEIVED, ClaimState.UNDER_REVIEW, ClaimState.APPROVED}


@pytest.fixture
def clinic(db):
    return ClinicFactory()


@pytest.fixture
def coordinator(db):
    return UserFactory()


def _claim_in(clinic, state: str) -> Claim:
    extra = {"void_reason": "Fel patient."} if state == ClaimState.VOIDED else {}
    return ClaimFactory(invoice__clinic=clinic, state=state, **extra)


def _events(claim: Claim) -> int:
    return ClaimEvent.objects.filter(claim=claim).count()


@pytest.mark.parametrize("state", ALL_STATES)
def test_approve_from_each_state(clinic, coordinator, state):
    claim = _claim_in(clinic, state)
    events = _events(claim)
    if state in APPROVABLE:
        claim_services.claim_approve(actor=coordinator, claim=claim)
        claim.refresh_from_db()
        assert (claim.state, claim.approved_on) == (ClaimState.APPROVED, None)
        event = ClaimEvent.objects.filter(claim=claim).last()
        assert (event.from_state, event.to_state, event.actor) == (state, ClaimState.APPROVED, coordinator)
        assert AuditEvent.objects.filter(
            action="claims.claim.approved", object_id=str(claim.pk), actor=coordinator
        ).exists()
    elif state == ClaimState.APPROVED:
        claim_services.claim_approve(actor=coordinator, claim=claim)  # already there: nothing happens
        assert _events(claim) == events
    else:
        with pytest.raises(ValidationError):
            claim_services.claim_approve(actor=coordinator, claim=claim)
        claim.refresh_from_db()
        assert claim.state == state and _events(claim) == events


@pytest.mark.parametrize("state", ALL_STATES)
def test_question_from_each_state(clinic, coordinator, state):
    claim = _claim_in(clinic, state)
    events = _events(claim)
    if state in QUESTIONABLE:
        question = services.claim_question_ask(actor=coordinator, claim=claim, question="  Vilken tand?  ")
        claim.refresh_from_db()
        assert claim.state == ClaimState.UNDER_REVIEW  # a received claim goes under review, and stays there
        assert (question.question, question.asked_by, question.is_answered) == ("Vilken tand?", coordinator, False)
        history = list(ClaimEvent.objects.filter(claim=claim).values_list("to_state", "kind", "params"))[events:]
        moved = [(ClaimState.UNDER_REVIEW, ClaimEventKind.REVIEW_STARTED, {})] if state == ClaimState.RECEIVED else []
        assert history == [
            *moved,
            (ClaimState.UNDER_REVIEW, ClaimEventKind.QUESTION_ASKED, {"question": "Vilken tand?"}),
        ]
        assert ClaimEvent.objects.filter(claim=claim).last().text == "Fråga till kliniken: Vilken tand?"
        assert AuditEvent.objects.filter(action="review.claim_question.asked", object_id=str(question.pk)).exists()
    else:
        with pytest.raises(ValidationError):
            services.claim_question_ask(actor=coordinator, claim=claim, question="Vilken tand?")
        claim.refresh_from_db()
        assert claim.state == state and _events(claim) == events
        assert not ClaimQuestion.objects.filter(claim=claim).exists()


def test_an_empty_question_is_refused(clinic, coordinator):
    claim = _claim_in(clinic, ClaimState.UNDER_REVIEW)
    with pytest.raises(ValidationError) as error:
        services.claim_question_ask(actor=coordinator, claim=claim, question="   ")
    assert "question" in error.value.message_dict


@pytest.mark.parametrize("state", ALL_STATES)
def test_void_from_each_state(clinic, coordinator, state):
    claim = _claim_in(clinic, state)
    events = _events(claim)
    if state in VOIDABLE:
        claim_services.claim_void(actor=coordinator, claim=claim, reason="Dubbelregistrerad.")
        claim.refresh_from_db()
        assert (claim.state, claim.void_reason) == (ClaimState.VOIDED, "Dubbelregistrerad.")
        event = ClaimEvent.objects.filter(claim=claim).last()
        assert (event.kind, event.params, event.text) == (
            ClaimEventKind.VOIDED,
            {"reason": "Dubbelregistrerad."},
            "Dubbelregistrerad.",
        )
    elif state == ClaimState.VOIDED:
        claim_services.claim_void(actor=coordinator, claim=claim, reason="Igen.")
        claim.refresh_from_db()
        assert claim.void_reason == "Fel patient." and _events(claim) == events
    else:
        with pytest.raises(ValidationError):
            claim_services.claim_void(actor=coordinator, claim=claim, reason="Dubbelregistrerad.")
        claim.refresh_from_db()
        assert claim.state == state and _events(claim) == events


def test_void_needs_a_reason(clinic, coordinator):
    claim = _claim_in(clinic, ClaimState.UNDER_REVIEW)
    with pytest.raises(ValidationError) as error:
        claim_services.claim_void(actor=coordinator, claim=claim, reason=" ")
    assert "reason" in error.value.message_dict


def test_voiding_an_invoice_voids_what_is_not_paid(clinic, coordinator):
    invoice = InvoiceFactory(clinic=clinic)
    claims = {state: ClaimFactory(invoice=invoice, state=state) for state in (*VOIDABLE, ClaimState.PAID)}
    claim_services.invoice_void(actor=coordinator, invoice=invoice, reason="Fel klinik.")
    states = {state: Claim.objects.get(pk=claim.pk).state for state, claim in claims.items()}
    assert states == {
        ClaimState.RECEIVED: ClaimState.VOIDED,
        ClaimState.UNDER_REVIEW: ClaimState.VOIDED,
        ClaimState.APPROVED: ClaimState.VOIDED,
        ClaimState.PAID: ClaimState.PAID,
    }


def test_approved_without_payout_date_waits_for_payout(clinic, coordinator):
    claim = _claim_in(clinic, ClaimState.UNDER_REVIEW)
    claim_services.claim_approve(actor=coordinator, claim=claim)
    claim = Claim.objects.get(pk=claim.pk)
    assert claim_status(claim) == "Godkänd, väntar på utbetalning"
    invoice = billing_selectors.clinic_invoice_list(
        clinic=clinic,
        tab="received",
        search=billing_selectors.InvoiceSearch(date_from=timezone.localdate(), date_to=timezone.localdate()),
    ).get()
    (summary,) = billing_selectors.invoice_summaries([invoice])
    assert summary.status == "Godkänd, väntar på utbetalning"


def test_under_review_reads_as_the_manual_says(clinic):
    assert claim_status(_claim_in(clinic, ClaimState.UNDER_REVIEW)) == "Räkningen är under granskning"


# The clinic's answer ----------------------------------------------------------------------------------------


def _question(clinic, state=ClaimState.UNDER_REVIEW) -> ClaimQuestion:
    return ClaimQuestionFactory(claim=_claim_in(clinic, state))


def test_the_clinic_answers_once_and_the_history_says_so(clinic):
    question = _question(clinic)
    biller = UserFactory()
    services.claim_question_answer(actor=biller, question=question, answer=" Tand 36. ")
    question.refresh_from_db()
    assert (question.answer, question.answered_by, question.is_answered) == ("Tand 36.", biller, True)
    assert question.claim.state == ClaimState.UNDER_REVIEW  # the coordinator decides what follows
    event = ClaimEvent.objects.filter(claim=question.claim).last()
    assert (event.to_state, event.actor, event.kind, event.params) == (
        ClaimState.UNDER_REVIEW,
        biller,
        ClaimEventKind.QUESTION_ANSWERED,
        {"answer": "Tand 36."},
    )
    assert event.text == "Klinikens svar: Tand 36."
    assert AuditEvent.objects.filter(action="review.claim_question.answered", object_id=str(question.pk)).exists()

    services.claim_question_answer(actor=biller, question=question, answer="Tand 36.")  # a double click
    with pytest.raises(ValidationError):
        services.claim_question_answer(actor=biller, question=question, answer="Något annat.")
    question.refresh_from_db()
    assert question.answer == "Tand 36."
    assert ClaimEvent.objects.filter(claim=question.claim, kind=ClaimEventKind.QUESTION_ANSWERED).count() == 1


@pytest.mark.parametrize("state", [ClaimState.APPROVED, ClaimState.VOIDED, ClaimState.DELETED])
def test_a_question_cannot_be_answered_once_the_review_is_over(clinic, state):
    question = _question(clinic)
    Claim.objects.filter(pk=question.claim_id).update(state=state, void_reason="Fel.")
    with pytest.raises(ValidationError):
        services.claim_question_answer(actor=UserFactory(), question=question, answer="Tand 36.")
    question.refresh_from_db()
    assert not question.is_answered


def test_an_empty_answer_is_refused(clinic):
    with pytest.raises(ValidationError) as error:
        services.claim_question_answer(actor=UserFactory(), question=_question(clinic), answer="  ")
    assert "answer" in error.value.message_dict
