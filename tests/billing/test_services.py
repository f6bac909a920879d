"""The billing desk's flows that cross apps: a claim is stored and reviewed in one transaction."""

import datetime

import pytest
from django.utils import timezone

from billing import services as billing_services
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim, ClaimEventKind, ClaimState
from review.models import ReviewRuleKind
from tests.eligibility.factories import CertificateFactory
from tests.review.factories import ReviewRuleFactory

PIN = "200001012384"


def _visit() -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=5)


def _draft(reference: str, codes=("101",)) -> ClaimDraft:
    visit = _visit()
    return ClaimDraft(
        personal_identity_number=PIN,
        support_form="N",
        reference=reference,
        lines=[LineDraft(visit_date=visit, code=code, jaw="UK" if code == "825" else "") for code in codes],
        patient_fees={visit: 10000},
        care_model="K1",
        patient_category="N1",
    )


@pytest.fixture
def submit_world(small_world):
    """The small world where the draft's patient can be billed: an N1 certificate in the region, the tariff of
    the visit."""
    small_world.tariff(_visit())
    CertificateFactory(patient__personal_identity_number=PIN, region=small_world.region, group="N1")
    return small_world


def test_claim_submit_applies_the_rules_and_a_claim_under_review_leaves_the_invoice_open(submit_world):
    """The demo's rules of Västra Götaland, made on the region: above 20 000 kr, and 825/825S."""
    ReviewRuleFactory(region=submit_world.region, kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit=2_000_000)
    ReviewRuleFactory(region=submit_world.region, kind=ReviewRuleKind.CODES, amount_limit=None, codes=["825", "825S"])
    first = billing_services.claim_submit(
        actor=submit_world.biller,
        clinic=submit_world.clinic,
        invoice_reference="9988776",
        draft=_draft("RV-1", ("101", "825")),
    )
    second = billing_services.claim_submit(
        actor=submit_world.biller,
        clinic=submit_world.clinic,
        invoice_reference="9988776",
        draft=_draft("RV-2", ("103",)),
    )
    assert (first.state, second.state) == (ClaimState.UNDER_REVIEW, ClaimState.RECEIVED)
    assert first.invoice_id == second.invoice_id
    assert list(first.events.values_list("to_state", "actor", "kind")) == [
        (ClaimState.RECEIVED, submit_world.biller.pk, ClaimEventKind.RECEIVED),
        (ClaimState.UNDER_REVIEW, None, ClaimEventKind.RULES_MATCHED),
    ]
    assert first.events.last().text == "Granskningsregel: Åtgärd 825, 825S"


def test_claim_submit_rolls_back_the_review_with_the_claim(submit_world, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("review failed")

    monkeypatch.setattr("billing.services.review_rules_apply", fail)
    with pytest.raises(RuntimeError):
        billing_services.claim_submit(
            actor=submit_world.biller, clinic=submit_world.clinic, invoice_reference="9988777", draft=_draft("RV-3")
        )
    assert not Claim.objects.filter(clinic=submit_world.clinic, reference="RV-3").exists()
