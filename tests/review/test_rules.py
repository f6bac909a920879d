"""Review rules: each kind puts exactly the claims it names under review, on submission and in batches."""

import datetime
import random
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from claims.models import (
    PATIENT_FEE_CODE,
    Claim,
    ClaimEvent,
    ClaimEventKind,
    ClaimLine,
    ClaimState,
    Invoice,
    TariffRow,
)
from portal.models import AuditEvent
from review import services
from review.models import ReviewRule, ReviewRuleKind
from tests.claims.factories import ClaimFactory, InvoiceFactory, standard_tariff
from tests.clinics.factories import ClinicFactory, UserFactory
from tests.eligibility.factories import TEST_PINS, PatientFactory

from .factories import ReviewRuleFactory

VISIT = datetime.date(2026, 10, 1)


@pytest.fixture
def clinic(db):
    clinic = ClinicFactory()
    standard_tariff(clinic.region, 2026)
    return clinic


def _claim(clinic, *lines: tuple[str, int], state=ClaimState.RECEIVED) -> Claim:
    """A claim with the given (code, amount in öre) lines; its total is their sum, as claim_submit stores it."""
    return _claims(clinic, *lines, count=1, state=state)[0]


def _claims(clinic, *lines: tuple[str, int], count: int, state=ClaimState.RECEIVED) -> list[Claim]:
    """`count` claims as `_claim` makes one, each on an invoice of its own and for the factory's next patient, in a
    few INSERTs rather than seven queries each (the batch tests make up to 300)."""
    created_by = UserFactory()
    invoices = Invoice.objects.bulk_create(
        InvoiceFactory.build(clinic=clinic, created_by=created_by) for _ in range(count)
    )
    patients = [PatientFactory() for _ in range(min(count, len(TEST_PINS)))]
    claims = Claim.objects.bulk_create(
        ClaimFactory.build(
            invoice=invoice,
            clinic=clinic,
            patient=patients[number % len(patients)],
            created_by=created_by,
            state=state,
            total=sum(amount for _, amount in lines),
            patient_fee_total=sum(amount for code, amount in lines if code == PATIENT_FEE_CODE),
        )
        for number, invoice in enumerate(invoices)
    )
    rows = {row.code: row for row in TariffRow.objects.filter(version__region=clinic.region)}
    ClaimLine.objects.bulk_create(
        ClaimLine(claim=claim, position=position, visit_date=VISIT, code=code, tariff_row=rows[code], amount=amount)
        for claim in claims
        for position, (code, amount) in enumerate(lines, 1)
    )
    return claims


def _many_claims(clinic, count: int) -> list[Claim]:
    """`count` received claims of 980 kr without lines, in one invoice, inserted at once."""
    first = ClaimFactory(invoice__clinic=clinic, with_line=False)
    rest = Claim.objects.bulk_create(
        Claim(
            invoice=first.invoice,
            clinic=clinic,
            reference=f"{first.reference}-{number}",
            patient=first.patient,
            support_form=first.support_form,
            total=98_000,
            created_by=first.created_by,
        )
        for number in range(1, count)
    )
    return [first, *rest]


def _states(*claims: Claim) -> list[str]:
    return [Claim.objects.get(pk=claim.pk).state for claim in claims]


def test_amount_rule_takes_claims_above_the_limit_after_the_patient_fee(clinic):
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit=1_500_000)
    above = _claim(clinic, ("825", 1_270_500), ("121", 41_000), ("101", 98_000), ("701", 97_000))  # 15 065 kr
    at_limit = _claim(clinic, ("825", 1_270_500), ("701", 97_000), ("103", 52_000), ("121", 41_000), ("301", 43_000))
    # 15 035 kr of treatment, but the patient paid 100 kr of it: the region pays 14 935 kr.
    fee_brings_below = _claim(
        clinic, ("825", 1_270_500), ("121", 41_000), ("101", 98_000), ("701", 97_000), (PATIENT_FEE_CODE, -10_000)
    )
    Claim.objects.filter(pk=at_limit.pk).update(total=1_500_000)
    at_limit.total = 1_500_000
    below = _claim(clinic, ("101", 98_000))

    services.review_rules_apply(claims=[above, at_limit, fee_brings_below, below])

    assert _states(above, at_limit, fee_brings_below, below) == [
        ClaimState.UNDER_REVIEW,
        ClaimState.RECEIVED,  # "above" the limit: exactly the limit is not above it
        ClaimState.RECEIVED,
        ClaimState.RECEIVED,
    ]


def test_codes_rule_takes_a_claim_with_any_line_of_its_codes(clinic):
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.CODES, amount_limit=None, codes=["825S", "401"])
    with_401 = _claim(clinic, ("101", 98_000), ("401", 145_000))
    with_825s = _claim(clinic, ("825S", 1_519_500))
    with_825 = _claim(clinic, ("825", 1_270_500))  # 825 is not 825S
    without = _claim(clinic, ("101", 98_000), ("121", 41_000))

    services.review_rules_apply(claims=[with_401, with_825s, with_825, without])

    assert _states(with_401, with_825s, with_825, without) == [
        ClaimState.UNDER_REVIEW,
        ClaimState.UNDER_REVIEW,
        ClaimState.RECEIVED,
        ClaimState.RECEIVED,
    ]


def test_clinic_rule_takes_every_claim_of_that_clinic_only(clinic):
    other = ClinicFactory(region=clinic.region)
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.CLINIC, amount_limit=None, clinic=other)
    at_watched = _claims(other, ("101", 98_000), count=3)
    elsewhere = _claims(clinic, ("101", 98_000), count=3)

    services.review_rules_apply(claims=at_watched + elsewhere)

    assert _states(*at_watched) == [ClaimState.UNDER_REVIEW] * 3
    assert _states(*elsewhere) == [ClaimState.RECEIVED] * 3


def test_sample_rule_takes_the_claims_whose_draw_falls_under_the_percentage(clinic):
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.SAMPLE, amount_limit=None, sample_percent=Decimal("10"))
    claims = _claims(clinic, ("101", 98_000), count=20)
    seed = 20261001
    draws = random.Random(seed)
    expected = [ClaimState.UNDER_REVIEW if draws.random() < 0.10 else ClaimState.RECEIVED for _ in claims]

    services.review_rules_apply(claims=claims, rng=random.Random(seed))

    assert _states(*claims) == expected
    assert ClaimState.UNDER_REVIEW in expected and ClaimState.RECEIVED in expected  # the seed shows both


def test_sample_rate_over_2000_claims_is_within_tolerance(clinic):
    """10 % of 2 000 claims: the count sampled is binomial, mean 200, standard deviation √(2000·0.1·0.9) ≈ 13.4.
    ±50 is more than 3.7 standard deviations: a fair draw falls outside with probability about 0.02 %, and a rule
    that sampled 7.5 % or 12.5 % instead would fail. The seed makes the run repeatable."""
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.SAMPLE, amount_limit=None, sample_percent=Decimal("10"))
    claims = _many_claims(clinic, 2000)

    services.review_rules_apply(claims=claims, rng=random.Random(6))

    sampled = Claim.objects.filter(pk__in=[c.pk for c in claims], state=ClaimState.UNDER_REVIEW).count()
    assert 150 <= sampled <= 250, sampled


def test_without_an_injected_random_the_sample_uses_system_randomness(clinic):
    ReviewRuleFactory(
        region=clinic.region, kind=ReviewRuleKind.SAMPLE, amount_limit=None, sample_percent=Decimal("100")
    )
    claim = _claim(clinic, ("101", 98_000))
    services.review_rules_apply(claims=[claim])
    assert isinstance(services._system_random, random.SystemRandom)
    assert _states(claim) == [ClaimState.UNDER_REVIEW]


def test_rules_of_another_region_and_inactive_rules_take_nothing(clinic):
    elsewhere = ClinicFactory()
    ReviewRuleFactory(region=elsewhere.region, kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit=0)
    ReviewRuleFactory(
        region=clinic.region,
        kind=ReviewRuleKind.AMOUNT_ABOVE,
        amount_limit=0,
        is_active=False,
        deactivated_at=timezone.now(),
    )
    claim = _claim(clinic, ("101", 98_000))
    services.review_rules_apply(claims=[claim])
    assert _states(claim) == [ClaimState.RECEIVED]


def test_only_received_claims_are_touched(clinic):
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit=0)
    deleted = _claim(clinic, ("101", 98_000), state=ClaimState.DELETED)
    approved = _claim(clinic, ("101", 98_000), state=ClaimState.APPROVED)
    services.review_rules_apply(claims=[deleted, approved])
    assert _states(deleted, approved) == [ClaimState.DELETED, ClaimState.APPROVED]
    assert not ClaimEvent.objects.filter(claim__in=[deleted, approved]).exists()


def test_the_event_names_every_rule_that_matched_and_the_system_did_it(clinic):
    rules = [
        ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit=1_000_000),
        ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.CODES, amount_limit=None, codes=["825"]),
        ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.CODES, amount_limit=None, codes=["401"]),
    ]
    claim = _claim(clinic, ("825", 1_270_500))

    services.review_rules_apply(claims=[claim])

    assert claim.state == ClaimState.UNDER_REVIEW  # the object given is updated too
    (event,) = ClaimEvent.objects.filter(claim=claim)
    assert (event.from_state, event.to_state, event.actor) == (ClaimState.RECEIVED, ClaimState.UNDER_REVIEW, None)
    assert event.kind == ClaimEventKind.RULES_MATCHED
    assert event.params == {
        "rules": [
            {"id": rules[0].pk, "kind": "amount_above", "amount_limit": 1_000_000},
            {"id": rules[1].pk, "kind": "codes", "codes": ["825"]},
        ]
    }
    assert event.text == "Granskningsregel: Belopp över 10\u00a0000\u00a0kr; Åtgärd 825"
    (audit,) = AuditEvent.objects.filter(object_type="claims.claim", object_id=str(claim.pk))
    assert audit.action == "claims.claim.review_started" and audit.actor is None
    assert audit.after["state"] == ClaimState.UNDER_REVIEW and len(audit.after["rules"]) == 2


def test_many_claims_take_a_few_queries_not_one_per_claim(clinic, django_assert_max_num_queries):
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit=100_000)
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.CODES, amount_limit=None, codes=["401"])
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.SAMPLE, amount_limit=None, sample_percent=Decimal("5"))
    claims = _claims(clinic, ("101", 98_000), count=150) + _claims(clinic, ("401", 145_000), count=150)
    # Clinics, rules, lines, lock, update, events, audit records. The claim and clinic events are two INSERTs made
    # by the database from the claims' ids (they were COPYs, which this counter does not see).
    with django_assert_max_num_queries(8):
        services.review_rules_apply(claims=claims, rng=random.Random(1))
    assert Claim.objects.filter(pk__in=[c.pk for c in claims[150:]], state=ClaimState.UNDER_REVIEW).count() == 150


def test_review_leaves_writing_claims_to_the_claims_services():
    """The rules and the questions move claims and add to their history through claims.services (claims_move,
    claim_event_add), which ask the claims' transition table: review writes no claim, event or their audit."""
    source = "\n".join(path.read_text() for path in Path(services.__file__).parent.glob("*.py"))
    assert "ClaimEvent(" not in source
    assert not re.search(r"Claim(Event)?\.objects[^\n]*\.(update|create|bulk_create|bulk_update|delete)\(", source)
    assert '"claims.claim.' not in source.replace('action="claims.claim.review_started"', "")


def test_claims_are_handled_in_chunks_with_the_same_result(clinic, monkeypatch):
    """Ids go to the database in chunks (5 000 a statement), so any number of claims stays within its limits."""
    monkeypatch.setattr(services, "CHUNK", 7)
    ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.CODES, amount_limit=None, codes=["401"])
    claims = [_claim(clinic, ("401" if n % 3 else "101", 98_000)) for n in range(30)]
    services.review_rules_apply(claims=claims)
    assert _states(*claims) == [ClaimState.UNDER_REVIEW if n % 3 else ClaimState.RECEIVED for n in range(30)]
    assert ClaimEvent.objects.filter(claim__in=claims).count() == 20


def test_a_region_without_rules_costs_one_query(clinic, django_assert_num_queries):
    claims = _claims(clinic, ("101", 98_000), count=20)
    with django_assert_num_queries(1):  # the rules; the claims' clinics are loaded with them
        services.review_rules_apply(claims=claims)
    fresh = list(Claim.objects.filter(pk__in=[c.pk for c in claims]))
    with django_assert_num_queries(2):  # the clinics' regions too
        services.review_rules_apply(claims=fresh)


# On submission ----------------------------------------------------------------------------------------------


# Keeping rules ----------------------------------------------------------------------------------------------


def test_a_rule_is_created_with_its_own_setting_only_and_audited(clinic):
    admin = UserFactory()
    rule = services.review_rule_create(
        actor=admin,
        region=clinic.region,
        kind=ReviewRuleKind.CODES,
        codes=[" 825 ", "825S", "825", ""],
        amount_limit=500,
        note="Protetik",
    )
    assert (rule.codes, rule.amount_limit, rule.is_active) == (["825", "825S"], None, True)
    assert rule.description == "Åtgärd 825, 825S"
    assert AuditEvent.objects.filter(action="review.rule.created", object_id=str(rule.pk), actor=admin).exists()


@pytest.mark.parametrize(
    "kind,arguments,field",
    [
        (ReviewRuleKind.AMOUNT_ABOVE, {}, "amount_limit"),
        (ReviewRuleKind.CODES, {"codes": [" ", ""]}, "codes"),
        (ReviewRuleKind.CODES, {"codes": [PATIENT_FEE_CODE]}, "codes"),
        (ReviewRuleKind.SAMPLE, {"sample_percent": Decimal("0")}, "sample_percent"),
        (ReviewRuleKind.SAMPLE, {"sample_percent": Decimal("100.01")}, "sample_percent"),
        (ReviewRuleKind.CLINIC, {}, "clinic"),
        ("unknown", {}, "kind"),
    ],
)
def test_a_rule_without_its_setting_is_refused(clinic, kind, arguments, field):
    with pytest.raises(ValidationError) as error:
        services.review_rule_create(actor=UserFactory(), region=clinic.region, kind=kind, **arguments)
    assert field in error.value.message_dict


def test_a_clinic_of_another_region_cannot_be_placed_under_review(clinic):
    with pytest.raises(ValidationError) as error:
        services.review_rule_create(
            actor=UserFactory(), region=clinic.region, kind=ReviewRuleKind.CLINIC, clinic=ClinicFactory()
        )
    assert "clinic" in error.value.message_dict


def test_deactivating_keeps_the_rule_and_stops_it(clinic):
    admin = UserFactory()
    rule = ReviewRuleFactory(region=clinic.region, kind=ReviewRuleKind.AMOUNT_ABOVE, amount_limit=0)
    services.review_rule_deactivate(actor=admin, rule=rule)
    services.review_rule_deactivate(actor=admin, rule=rule)  # twice: nothing more happens
    rule.refresh_from_db()
    assert (rule.is_active, rule.deactivated_by) == (False, admin) and rule.deactivated_at
    assert Counter(
        AuditEvent.objects.filter(object_id=str(rule.pk), object_type="review.reviewrule").values_list(
            "action", flat=True
        )
    ) == {"review.rule.deactivated": 1}
    claim = _claim(clinic, ("101", 98_000))
    services.review_rules_apply(claims=[claim])
    assert _states(claim) == [ClaimState.RECEIVED]
    assert ReviewRule.objects.filter(pk=rule.pk).exists()


def test_a_codes_rule_names_the_codes_the_regions_tariff_does_not_have(clinic):
    with pytest.raises(ValidationError) as error:
        services.review_rule_create(
            actor=UserFactory(), region=clinic.region, kind=ReviewRuleKind.CODES, codes=["825", "999", "12X"]
        )
    assert error.value.message_dict["codes"] == [
        "Åtgärderna 999, 12X finns inte i regionens taxa, i år eller förra året."
    ]
    with pytest.raises(ValidationError) as error:
        services.review_rule_create(actor=UserFactory(), region=clinic.region, kind=ReviewRuleKind.CODES, codes=["999"])
    assert error.value.message_dict["codes"] == ["Åtgärden 999 finns inte i regionens taxa, i år eller förra året."]
    # Another region's code does not count; last year's tariff does.
    other = ClinicFactory()
    standard_tariff(other.region, timezone.localdate().year)
    TariffRow.objects.filter(version__region=other.region, code="825").update(code="9825")
    last_year = standard_tariff(clinic.region, timezone.localdate().year - 1)
    TariffRow.objects.filter(version=last_year, code="825").update(code="8250")
    with pytest.raises(ValidationError):
        services.review_rule_create(
            actor=UserFactory(), region=clinic.region, kind=ReviewRuleKind.CODES, codes=["9825"]
        )
    rule = services.review_rule_create(
        actor=UserFactory(), region=clinic.region, kind=ReviewRuleKind.CODES, codes=["8250", "825"]
    )
    assert rule.codes == ["8250", "825"]
