"""Demo review: the regions' rules (Västra Götaland's; "möjlig dubblett" and "FHB nära gränsen" in both regions), and
questions on the demo claims under review, made through the services.

Loaded after the demo invoices, so that their states stay as portal.demo.invoices makes them. Idempotent: a rule is
found by its region, kind and setting; a claim that already has a question is left as it is. The sample rule is kept
deactivated, so that the demo (and the tests, which load it) never puts a claim under review by chance.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from claims.models import Claim, ClaimState
from clinics.models import Clinic, Region, User
from review import services
from review.models import ClaimQuestion, ReviewRule, ReviewRuleKind

REGION_ADMIN = "regionadmin@demo.test"
# region, kind, setting, active, note
RULES = (
    ("vg", ReviewRuleKind.AMOUNT_ABOVE, 2_000_000, True, "Räkningar över 20 000 kr granskas alltid."),
    ("vg", ReviewRuleKind.CODES, ["825", "825S"], True, "Protetik granskas."),
    ("vg", ReviewRuleKind.SAMPLE, Decimal("5"), False, "Stickprov, avaktiverat i demon."),
    ("vg", ReviewRuleKind.POSSIBLE_DUPLICATE, None, True, "Samma vård hos en annan klinik granskas."),
    ("dalarna", ReviewRuleKind.POSSIBLE_DUPLICATE, None, True, "Samma vård hos en annan klinik granskas."),
    ("vg", ReviewRuleKind.FHB_NEAR_LIMIT, 90, True, "Förhandsbedömningar som nästan är förbrukade granskas."),
    ("dalarna", ReviewRuleKind.FHB_NEAR_LIMIT, 90, True, "Förhandsbedömningar som nästan är förbrukade granskas."),
)
# clinic (region, number), claim reference, question, answer by (e-mail) or None, answer
QUESTIONS = (
    (
        ("vg", "31"),
        "DEMO-A2",
        "Röntgen och sjukdomsbehandling samma dag: vilka tänder gällde behandlingen?",
        "fakturerare@demo.test",
        "Tand 36 och 37, se journalanteckning från besöket.",
    ),
    (("dalarna", "2001"), "DEMO-A2", "Vilka tänder gällde sjukdomsbehandlingen (301)?", None, ""),
)
COORDINATORS = {"vg": "samordnare.vg@demo.test", "dalarna": "samordnare.dalarna@demo.test"}


def review_demo_load(counts: Counter) -> None:
    admin = User.objects.filter(email=REGION_ADMIN).first()
    if admin is None:
        return
    _rules_load(admin, counts)
    _questions_load(counts)


def _rules_load(admin: User, counts: Counter) -> None:
    regions = {region.code: region for region in Region.objects.filter(code__in={r[0] for r in RULES})}
    for region_code, kind, setting, active, note in RULES:
        region = regions.get(region_code)
        if region is None:
            continue
        setting_field = {
            ReviewRuleKind.AMOUNT_ABOVE: "amount_limit",
            ReviewRuleKind.CODES: "codes",
            ReviewRuleKind.SAMPLE: "sample_percent",
            ReviewRuleKind.FHB_NEAR_LIMIT: "prior_assessment_share",
        }.get(kind)
        settings = {setting_field: setting} if setting_field else {}  # "möjlig dubblett" has no setting
        if ReviewRule.objects.filter(region=region, kind=kind, **settings).exists():
            counts["unchanged"] += 1
            continue
        rule = services.review_rule_create(actor=admin, region=region, kind=kind, note=note, **settings)
        if not active:
            services.review_rule_deactivate(actor=admin, rule=rule)
        counts["created"] += 1


def _questions_load(counts: Counter) -> None:
    for (region_code, number), reference, question, answered_by, answer in QUESTIONS:
        clinic = Clinic.objects.filter(region__code=region_code, number=number).first()
        claim = Claim.objects.filter(clinic=clinic, reference=reference, state=ClaimState.UNDER_REVIEW).first()
        if claim is None:
            continue
        if ClaimQuestion.objects.filter(claim=claim).exists():
            counts["unchanged"] += 1
            continue
        asked = services.claim_question_ask(
            actor=User.objects.get(email=COORDINATORS[region_code]), claim=claim, question=question
        )
        if answered_by:
            services.claim_question_answer(actor=User.objects.get(email=answered_by), question=asked, answer=answer)
        counts["created"] += 1
