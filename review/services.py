"""Changes of the region's review: rules applied to submitted claims, rules kept, questions asked and answered.

Approving and voiding are the claim services' (`claims.services.claim_approve`, `claim_void`, `invoice_void`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from claims.audit import ClaimsAudit
from claims.models import OPEN_STATES, PATIENT_FEE_CODE, Claim, ClaimEventKind, ClaimLine, ClaimState, TariffRow
from claims.selectors import PriorAssessmentUse, prior_assessment_uses
from claims.services import claim_event_add, claim_start_review, claims_move
from claims.validation import NOT_BILLED_STATES
from clinics.models import Clinic, Region, User
from eligibility.models import PriorAssessment
from portal.audit import audit_record, snapshot

from .audit import ReviewAudit
from .models import ClaimQuestion, ReviewRule, ReviewRuleKind

# The sample is drawn from the operating system's randomness: a clinic cannot predict which claims are taken.
_system_random = random.SystemRandom()
# Ids per statement: well below PostgreSQL's 65 535 parameters, for invoice files of any size.
CHUNK = 5000


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Applying the rules -----------------------------------------------------------------------------------------


def _matches(
    rule: ReviewRule,
    claim: Claim,
    codes: set[str],
    rng: random.Random,
    fhb_uses: dict | None = None,
    *,
    duplicate_of: int | None = None,
) -> bool:
    if rule.kind == ReviewRuleKind.FHB_NEAR_LIMIT:
        return _fhb_near_limit(rule, claim, fhb_uses or {})
    if rule.kind == ReviewRuleKind.POSSIBLE_DUPLICATE:
        return duplicate_of is not None
    if rule.kind == ReviewRuleKind.AMOUNT_ABOVE:
        # The claim's total is what the region pays: treatment lines less the patient fees.
        return claim.total > rule.amount_limit
    if rule.kind == ReviewRuleKind.CODES:
        return bool(codes.intersection(rule.codes))
    if rule.kind == ReviewRuleKind.CLINIC:
        return claim.clinic_id == rule.clinic_id
    # One draw per sample rule and claim, whatever the other rules say: the share sampled is the rule's own.
    return Decimal(str(rng.random())) * 100 < rule.sample_percent


def _fhb_uses(claims: list[Claim], rules_by_region: dict[int, list[ReviewRule]]) -> dict[int, PriorAssessmentUse]:
    """What is billed against the FHBs the claims bill, with them (they are stored), when a rule asks: by FHB id."""
    if not any(rule.kind == ReviewRuleKind.FHB_NEAR_LIMIT for rules in rules_by_region.values() for rule in rules):
        return {}
    ids = {claim.prior_assessment_id for claim in claims if claim.prior_assessment_id}
    if not ids:
        return {}
    return prior_assessment_uses(PriorAssessment.objects.filter(pk__in=ids).prefetch_related("lines"))


def _fhb_near_limit(rule: ReviewRule, claim: Claim, fhb_uses: dict[int, PriorAssessmentUse]) -> bool:
    """FHB nära gränsen: the claim brings what is billed against its FHB to the rule's share of the approved amount
    or more (compared exactly, not rounded)."""
    use = fhb_uses.get(claim.prior_assessment_id)
    return use is not None and use.billed * 100 >= rule.prior_assessment_share * use.approved


def review_rules_apply(*, claims: list[Claim], rng: random.Random | None = None) -> None:
    """Put each received claim that matches an active rule of its region under review (under granskning).

    Call it in the transaction that stored the claims. Batched: a handful of statements however many claims
    (an invoice file may send 10 000 at once). The claims service `claims_move` puts each claim under review,
    with a claim event naming the rules it matched, by the system (no actor), and an audit record. Claims that
    match nothing stay received and go straight to approval in the payout run. `rng` is for tests (a seeded
    `random.Random`); by default the sample is drawn with `random.SystemRandom`. The claim objects given are
    updated in place.
    """
    received = [claim for claim in claims if claim.state == ClaimState.RECEIVED]
    if not received:
        return
    rng = rng or _system_random
    # The clinic is usually loaded already (claim_submit stores the claim with it): no query then.
    region_of: dict[int, int] = {
        claim.clinic_id: claim.clinic.region_id for claim in received if Claim.clinic.is_cached(claim)
    }
    if missing := {claim.clinic_id for claim in received} - set(region_of):
        region_of.update(Clinic.objects.filter(pk__in=missing).values_list("pk", "region_id"))
    rules_by_region: dict[int, list[ReviewRule]] = defaultdict(list)
    for rule in (
        ReviewRule.objects.filter(region_id__in=set(region_of.values()), is_active=True)
        .select_related("clinic")
        .order_by("kind", "pk")
    ):
        rules_by_region[rule.region_id].append(rule)
    if not rules_by_region:
        return

    watched_codes = {code for rules in rules_by_region.values() for r in rules for code in r.codes}
    codes_of: dict[int, set[str]] = defaultdict(set)
    kept = _kept_lines(received)
    if watched_codes and kept is not None:
        for claim in received:
            codes_of[claim.pk].update(line.code for line in kept[claim.pk] if line.code in watched_codes)
    elif watched_codes:
        claim_ids = [claim.pk for claim in received]
        for ids in _chunks(claim_ids):
            lines = ClaimLine.objects.filter(claim_id__in=ids, code__in=watched_codes).values_list("claim_id", "code")
            for claim_id, code in lines.distinct():
                codes_of[claim_id].add(code)

    fhb_uses = _fhb_uses(received, rules_by_region)
    duplicates_of = _possible_duplicates(received, region_of, rules_by_region, kept)
    matched: dict[int, list[ReviewRule]] = {}
    for claim in received:
        rules = rules_by_region.get(region_of[claim.clinic_id], [])
        duplicate_of = duplicates_of.get(claim.pk)
        hits = [
            rule
            for rule in rules
            if _matches(rule, claim, codes_of[claim.pk], rng, fhb_uses, duplicate_of=duplicate_of)
        ]
        if hits:
            matched[claim.pk] = hits
    if not matched:
        return

    # Only claims still received move: the lock keeps a clinic's deletion (or anything else) from crossing this.
    still_received: set[int] = set()
    for ids in _chunks(sorted(matched)):
        still_received.update(
            Claim.objects.select_for_update().filter(pk__in=ids, state=ClaimState.RECEIVED).values_list("pk", flat=True)
        )
    claims_move(
        actor=None,
        claims=[claim for claim in received if claim.pk in still_received],
        to_state=ClaimState.UNDER_REVIEW,
        event_kind=ClaimEventKind.RULES_MATCHED,
        action=ClaimsAudit.CLAIM_REVIEW_STARTED,
        params=lambda claim: {
            "rules": [_rule_event_params(rule, duplicates_of.get(claim.pk)) for rule in matched[claim.pk]]
        },
        audit_after=lambda claim: {"rules": [rule.pk for rule in matched[claim.pk]]},
    )


def _kept_lines(claims: list[Claim]) -> dict[int, list[ClaimLine]] | None:
    """The claims' lines by claim id, in position order, when every claim holds them with their tariff rows (as
    `claims.services` leaves a claim it has just stored); else None, and the rules read them from the database."""
    kept: dict[int, list[ClaimLine]] = {}
    for claim in claims:
        lines = getattr(claim, "_prefetched_objects_cache", {}).get("lines")
        if lines is None:
            return None
        lines = sorted(lines, key=lambda line: line.position)
        if not all(line.tariff_row_id is None or ClaimLine.tariff_row.is_cached(line) for line in lines):
            return None
        kept[claim.pk] = lines
    return kept


def _possible_duplicates(
    claims: list[Claim],
    region_of: dict[int, int],
    rules_by_region: dict[int, list[ReviewRule]],
    kept: dict[int, list[ClaimLine]] | None = None,
) -> dict[int, int]:
    """Of the claims in a region with an active "möjlig dubblett" rule: the id of another clinic's claim in the
    region with the same care (patient, visit date, code, tooth and jaw; not a code the tariff marks repeatable,
    not the patient fee) in any state but deleted or voided and not credited back, by claim id. Two queries per
    5 000 claims, matched here rather than by a correlated subquery, whose plan grows with the region's claims.

    The clinic never learns of the other claim (patient privacy): the id goes into the claim event's parameters,
    which only the coordinator's page reads. The same care twice at one clinic is a fault of the claim instead
    (`claims.validation.duplicate_care_faults`).
    """
    watching = {
        region
        for region, rules in rules_by_region.items()
        if any(r.kind == ReviewRuleKind.POSSIBLE_DUPLICATE for r in rules)
    }
    claims_of = {claim.pk: claim for claim in claims if region_of[claim.clinic_id] in watching}
    found: dict[int, int] = {}
    for ids in _chunks(sorted(claims_of)):
        if kept is not None:
            care = [
                (claim_id, line.visit_date, line.code, line.tooth, line.jaw)
                for claim_id in ids
                for line in kept[claim_id]
                if line.tariff_row is not None and not line.tariff_row.repeatable and line.code != PATIENT_FEE_CODE
            ]
        else:
            care = (
                ClaimLine.objects.filter(claim_id__in=ids, tariff_row__repeatable=False)
                .exclude(code=PATIENT_FEE_CODE)
                .order_by("claim_id", "position")
                .values_list("claim_id", "visit_date", "code", "tooth", "jaw")
            )
        wanted: dict[tuple, list[int]] = defaultdict(list)  # (patient, day, code, tooth, jaw) → claim ids
        for claim_id, *key in care:
            wanted[(claims_of[claim_id].patient_id, *key)].append(claim_id)
        if not wanted:
            continue
        days = [key[1] for key in wanted]
        billed = (
            ClaimLine.objects.filter(
                claim__patient_id__in={key[0] for key in wanted},
                claim__clinic__region_id__in=watching,
                visit_date__gte=min(days),
                visit_date__lte=max(days),
                code__in={key[2] for key in wanted},
            )
            .exclude(claim__state__in=NOT_BILLED_STATES)
            .filter(credit__isnull=True)
            .order_by("claim_id")
            .values_list(
                "claim_id",
                "claim__clinic_id",
                "claim__clinic__region_id",
                "claim__patient_id",
                "visit_date",
                "code",
                "tooth",
                "jaw",
            )
        )
        for other_id, clinic_id, region_id, *key in billed:
            for claim_id in wanted.get(tuple(key), ()):
                claim = claims_of[claim_id]
                if clinic_id != claim.clinic_id and region_id == region_of[claim.clinic_id]:
                    found.setdefault(claim_id, other_id)
    return found


def _rule_event_params(rule: ReviewRule, duplicate_of: int | None) -> dict:
    """What the claim's history keeps of a rule it matched; of "möjlig dubblett", the other clinic's claim too."""
    params = rule.event_params
    if rule.kind == ReviewRuleKind.POSSIBLE_DUPLICATE and duplicate_of is not None:
        params["other_claim"] = duplicate_of
    return params


# Keeping the rules ------------------------------------------------------------------------------------------


def _clean_codes(codes: Sequence[str] | None) -> list[str]:
    cleaned = []
    for code in codes or ():
        code = code.strip()
        if code and code not in cleaned:
            cleaned.append(code)
    return cleaned


def _codes_not_in_tariff(region: Region, codes: Sequence[str]) -> list[str]:
    """The codes that no tariff version of the region has, of this year's, last year's or one to come."""
    since = timezone.localdate().replace(year=timezone.localdate().year - 1, month=1, day=1)
    known = set(
        TariffRow.objects.of_region(region)
        .filter(Q(version__valid_to__isnull=True) | Q(version__valid_to__gte=since), code__in=codes)
        .values_list("code", flat=True)
    )
    return [code for code in codes if code not in known]


@transaction.atomic
def review_rule_create(
    *,
    actor: User,
    region: Region,
    kind: str,
    amount_limit: int | None = None,
    codes: Sequence[str] | None = None,
    sample_percent: Decimal | None = None,
    clinic: Clinic | None = None,
    prior_assessment_share: int | None = None,
    note: str = "",
) -> ReviewRule:
    """A new active rule for the region's claims from now on; each kind takes its own setting only."""
    if kind not in ReviewRuleKind.values:
        raise ValidationError({"kind": _("Välj en regel.")})
    rule = ReviewRule(region=region, kind=kind, note=(note or "").strip(), created_by=actor)
    if kind == ReviewRuleKind.AMOUNT_ABOVE:
        if amount_limit is None or amount_limit < 0:
            raise ValidationError({"amount_limit": _("Ange beloppsgränsen i kronor.")})
        rule.amount_limit = amount_limit
    elif kind == ReviewRuleKind.CODES:
        rule.codes = _clean_codes(codes)
        if not rule.codes:
            raise ValidationError({"codes": _("Ange minst en åtgärdskod.")})
        if PATIENT_FEE_CODE in rule.codes:
            raise ValidationError({"codes": _("Patientavgiften är ingen åtgärd att granska.")})
        if unknown := _codes_not_in_tariff(region, rule.codes):
            message = ngettext(
                "Åtgärden %(codes)s finns inte i regionens taxa, i år eller förra året.",
                "Åtgärderna %(codes)s finns inte i regionens taxa, i år eller förra året.",
                len(unknown),
            )
            raise ValidationError({"codes": message % {"codes": ", ".join(unknown)}})
    elif kind == ReviewRuleKind.SAMPLE:
        if sample_percent is None or not (Decimal("0") < sample_percent <= Decimal("100")):
            raise ValidationError({"sample_percent": _("Ange en andel över 0 och högst 100 procent.")})
        rule.sample_percent = sample_percent
    elif kind == ReviewRuleKind.POSSIBLE_DUPLICATE:
        pass  # no setting: the same care on another clinic's claim
    elif kind == ReviewRuleKind.FHB_NEAR_LIMIT:
        if prior_assessment_share is None or not 1 <= prior_assessment_share <= 100:
            raise ValidationError({"prior_assessment_share": _("Ange en andel från 1 till 100 procent.")})
        rule.prior_assessment_share = prior_assessment_share
    else:
        if clinic is None or clinic.region_id != region.pk:
            raise ValidationError({"clinic": _("Välj en av regionens kliniker.")})
        rule.clinic = clinic
    rule.save()
    audit_record(
        actor=actor,
        action=ReviewAudit.RULE_CREATED,
        obj=rule,
        after={
            **snapshot(
                rule, ["kind", "amount_limit", "codes", "sample_percent", "clinic", "prior_assessment_share", "note"]
            )
        },
        region=region,
    )
    return rule


@transaction.atomic
def review_rule_deactivate(*, actor: User, rule: ReviewRule) -> ReviewRule:
    """The rule stops applying to claims submitted from now on; claims it put under review stay so."""
    rule = ReviewRule.objects.select_for_update(of=("self",)).select_related("clinic").get(pk=rule.pk)
    if not rule.is_active:
        return rule
    rule.is_active = False
    rule.deactivated_by = actor
    rule.deactivated_at = timezone.now()
    rule.save(update_fields=["is_active", "deactivated_by", "deactivated_at"])
    audit_record(
        actor=actor,
        action=ReviewAudit.RULE_DEACTIVATED,
        obj=rule,
        before={"is_active": True},
        after={"is_active": False},
        region=rule.region_id,
    )
    return rule


# Questions to the clinic ------------------------------------------------------------------------------------


def _not_open(claim: Claim) -> ValidationError:
    return ValidationError(
        _("Räkningen %(reference)s har status %(state)s: frågor ställs och besvaras bara under granskningen.")
        % {"reference": claim.reference, "state": claim.get_state_display().lower()},
        code="state",
    )


@transaction.atomic
def claim_question_ask(*, actor: User, claim: Claim, question: str) -> ClaimQuestion:
    """The coordinator asks the clinic about a claim; a received claim goes under review, and stays there."""
    question = (question or "").strip()
    if not question:
        raise ValidationError({"question": _("Skriv frågan till kliniken.")})
    claim = Claim.objects.select_for_update().get(pk=claim.pk)
    if claim.state not in OPEN_STATES:
        raise _not_open(claim)
    claim = claim_start_review(actor=actor, claim=claim)
    asked = ClaimQuestion.objects.create(claim=claim, question=question, asked_by=actor)
    claim_event_add(
        actor=actor,
        claim=claim,
        kind=ClaimEventKind.QUESTION_ASKED,
        params={"question": question},
        event_data={"question_id": asked.pk},
    )
    audit_record(
        actor=actor,
        action=ReviewAudit.CLAIM_QUESTION_ASKED,
        obj=asked,
        after={"claim": claim.pk, "question": question},
        clinic=claim.clinic_id,
    )
    return asked


@transaction.atomic
def claim_question_answer(*, actor: User, question: ClaimQuestion, answer: str) -> ClaimQuestion:
    """The clinic answers a question once, while the claim is still under review; the coordinator sees it."""
    answer = (answer or "").strip()
    if not answer:
        raise ValidationError({"answer": _("Skriv ert svar.")})
    # Claim first, then its question: the order every claim service locks in.
    claim = Claim.objects.select_for_update().get(pk=question.claim_id)
    question = ClaimQuestion.objects.select_for_update().get(pk=question.pk)
    if question.is_answered:
        if question.answer == answer:
            return question  # the same answer sent twice (a double click)
        raise ValidationError(_("Frågan är redan besvarad."), code="answered")
    if claim.state not in OPEN_STATES:
        raise _not_open(claim)
    question.answer = answer
    question.answered_by = actor
    question.answered_at = timezone.now()
    question.save(update_fields=["answer", "answered_by", "answered_at"])
    claim_event_add(
        actor=actor,
        claim=claim,
        kind=ClaimEventKind.QUESTION_ANSWERED,
        params={"answer": answer},
        event_data={"question_id": question.pk},
    )
    audit_record(
        actor=actor,
        action=ReviewAudit.CLAIM_QUESTION_ANSWERED,
        obj=question,
        after={"claim": claim.pk, "answer": answer},
        clinic=claim.clinic_id,
    )
    return question


def claim_questions_answered_recount() -> None:
    """Write every claim's `questions_answered` again from its questions (after a load with the triggers off, as
    bench/scale_fill.py's COPY; review migration 0004 keeps it otherwise): the claims with a question, and those
    marked without one."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT review_claim_questions_answered_set(ARRAY("
            "SELECT claim_id FROM review_claimquestion UNION SELECT id FROM claims_claim WHERE questions_answered))"
        )
