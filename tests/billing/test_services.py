"""The billing desk's flows that cross apps: a claim is stored and reviewed in one transaction."""

import datetime

import pytest
from django.utils import timezone

from billing import services as billing_services
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim, ClaimEventKind, ClaimState


def _draft(reference: str, codes=("101",)) -> ClaimDraft:
    visit = timezone.localdate() - datetime.timedelta(days=5)
    return ClaimDraft(
        personal_identity_number="200001012384",
        support_form="N",
        reference=reference,
        lines=[LineDraft(visit_date=visit, code=code, jaw="UK" if code == "825" else "") for code in codes],
        patient_fees={visit: 10000},
        care_model="K1",
        patient_category="N1",
    )


def test_claim_submit_applies_the_rules_and_a_claim_under_review_leaves_the_invoice_open(world):
    """The demo's rules of Västra Götaland: above 20 000 kr, and 825/825S."""
    first = billing_services.claim_submit(
        actor=world.biller, clinic=world.clinic31, invoice_reference="9988776", draft=_draft("RV-1", ("101", "825"))
    )
    second = billing_services.claim_submit(
        actor=world.biller, clinic=world.clinic31, invoice_reference="9988776", draft=_draft("RV-2")
    )
    assert (first.state, second.state) == (ClaimState.UNDER_REVIEW, ClaimState.RECEIVED)
    assert first.invoice_id == second.invoice_id
    assert list(first.events.values_list("to_state", "actor", "kind")) == [
        (ClaimState.RECEIVED, world.biller.pk, ClaimEventKind.RECEIVED),
        (ClaimState.UNDER_REVIEW, None, ClaimEventKind.RULES_MATCHED),
    ]
    assert first.events.last().text == "Granskningsregel: Åtgärd 825, 825S"


def test_claim_submit_rolls_back_the_review_with_the_claim(world, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("review failed")

    monkeypatch.setattr("billing.services.review_rules_apply", fail)
    with pytest.raises(RuntimeError):
        billing_services.claim_submit(
            actor=world.biller, clinic=world.clinic31, invoice_reference="9988777", draft=_draft("RV-3")
        )
    assert not Claim.objects.filter(clinic=world.clinic31, reference="RV-3").exists()
