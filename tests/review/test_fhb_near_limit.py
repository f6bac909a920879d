"""Granskningsregel 'FHB nära gränsen': a claim that brings what is billed against its FHB to the rule's share of the
approved amount goes under review, through the service, an invoice file and the form page; region administrators
add it with its percent."""

import datetime

import lxml.html
import pytest
from django.utils import timezone

from billing import services as billing_services
from claims.drafts import ClaimDraft, LineDraft
from claims.models import Claim, ClaimEvent, ClaimEventKind, ClaimState
from clinics.models import SupportForm
from eligibility.models import PriorAssessment
from review.models import ReviewRule, ReviewRuleKind
from tests.billing.test_invoice_file_messages import (  # noqa: F401 (fixtures)
    S_PATIENT,
    checked,
    fakturafil,
    fhb_number,
    file_world,
    file_world_made,
    rakning,
    sent,
)
from tests.billing.test_register_views import FHB_PIN, _open, _visit_days, vg_tariff  # noqa: F401 (fixture)
from tests.eligibility.factories import approved_prior_assessment
from tests.review.factories import ReviewRuleFactory

TODAY = timezone.localdate()
VISIT = TODAY - datetime.timedelta(days=2)
RULE_TEXT = "Granskningsregel: FHB nära gränsen (90 % av godkänt belopp)"


def near_limit_rule(world, share=90) -> ReviewRule:
    return ReviewRuleFactory(
        region=world.region, kind=ReviewRuleKind.FHB_NEAR_LIMIT, amount_limit=None, prior_assessment_share=share
    )


def s_claim(world, number: str, reference: str, *lines: LineDraft) -> Claim:
    draft = ClaimDraft(
        personal_identity_number=S_PATIENT,
        support_form=SupportForm.S,
        reference=reference,
        lines=list(lines),
        patient_fees={VISIT: 20000},
        patient_category="S3",
        prior_assessment_number=number,
    )
    return billing_services.claim_submit(
        actor=world.biller, clinic=world.clinic, invoice_reference=f"9{reference[-1]}", draft=draft
    )


def test_a_claim_that_brings_the_fhb_to_the_share_goes_under_review(small_world):
    small_world.tariff(VISIT, TODAY)
    fhb = approved_prior_assessment(small_world, pin=S_PATIENT)
    near_limit_rule(small_world)
    first = s_claim(small_world, fhb.number, "R-1", LineDraft(VISIT, "101"))  # 980 of 2 430 kr: 40 %
    assert first.state == ClaimState.RECEIVED
    second = s_claim(small_world, fhb.number, "R-2", LineDraft(VISIT, "401", tooth="36"))  # 100 %
    assert second.state == ClaimState.UNDER_REVIEW
    event = ClaimEvent.objects.get(claim=second, kind=ClaimEventKind.RULES_MATCHED)
    assert event.text == RULE_TEXT


def test_the_share_is_compared_exactly(small_world):
    """1 450 of 2 430 kr is 59.67 %: a 60 % rule is not met, a 59 % one is."""
    small_world.tariff(VISIT, TODAY)
    fhb = approved_prior_assessment(small_world, pin=S_PATIENT)
    rule = near_limit_rule(small_world, share=60)
    assert s_claim(small_world, fhb.number, "R-1", LineDraft(VISIT, "401", tooth="36")).state == ClaimState.RECEIVED
    rule.delete()
    near_limit_rule(small_world, share=59)
    Claim.objects.filter(reference="R-1").update(state=ClaimState.DELETED)
    assert s_claim(small_world, fhb.number, "R-2", LineDraft(VISIT, "401", tooth="36")).state == ClaimState.UNDER_REVIEW


def test_a_file_claim_that_uses_up_the_fhb_goes_under_review(file_world, fhb_number):  # noqa: F811
    near_limit_rule(file_world)
    s = {"pin": S_PATIENT, "form": "S", "category": "S3", "fhb": fhb_number}
    upload = checked(
        file_world,
        fakturafil(
            [
                rakning("NL-1", **s, actions='<Atgard kod="101"/>'),
                rakning("NL-2", **s, actions='<Atgard kod="401" tand="36"/>'),
            ]
        ),
    )
    sent(file_world, upload)
    states = dict(Claim.objects.filter(clinic=file_world.clinic).values_list("reference", "state"))
    # Both are stored at once: after them the FHB is used up, so both bring it over 90 %.
    assert (states["NL-1"], states["NL-2"]) == (ClaimState.UNDER_REVIEW, ClaimState.UNDER_REVIEW)


@pytest.mark.usefixtures("vg_tariff")
def test_the_form_page_claim_that_uses_up_the_demo_fhb_goes_under_review(client, world):
    """The demo has the rule at 90 % in both regions; its FHB is 40 % used."""
    assert ReviewRule.objects.filter(region=world.vg, kind=ReviewRuleKind.FHB_NEAR_LIMIT, is_active=True).exists()
    first, _last = _visit_days()
    page = _open(client, world)
    page.search(FHB_PIN)
    page.add(first, "401", tooth="36")
    page.press("action", "refresh", patient_category="S1", **{f"fee-{first.isoformat()}": "200"})
    assert page.submit(invoice_reference="4792", reference="REG-NL-1").status_code == 302
    claim = Claim.objects.get(reference="REG-NL-1")
    assert claim.state == ClaimState.UNDER_REVIEW
    assert claim.prior_assessment == PriorAssessment.objects.get(patient__personal_identity_number=FHB_PIN)


def test_the_region_admin_adds_the_rule_with_its_percent(client, world):
    rules = "/region/vg/rakningar/regler/"
    client.force_login(world.region_admin)
    missing = lxml.html.document_fromstring(client.post(f"{rules}ny/", {"kind": "fhb_near_limit"}).content)
    assert "Ange en andel från 1 till 100 procent." in missing.text_content()
    assert client.post(f"{rules}ny/", {"kind": "fhb_near_limit", "prior_assessment_share": "101"}).status_code == 200
    response = client.post(f"{rules}ny/", {"kind": "fhb_near_limit", "prior_assessment_share": "75"})
    assert response.status_code == 302
    rule = ReviewRule.objects.get(region=world.vg, kind="fhb_near_limit", prior_assessment_share=75)
    assert rule.created_by == world.region_admin
    page = lxml.html.document_fromstring(client.get(rules).content).text_content()
    assert "FHB nära gränsen (75 % av godkänt belopp)" in page
