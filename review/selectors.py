"""Reads of the review: the region's claims by filter, one claim with all it holds, rules and questions."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from claims.models import OPEN_STATES, Claim, ClaimEvent, ClaimLine, ClaimState, Invoice
from clinics.models import Clinic, Region

from .models import ClaimQuestion, ReviewRule


class ClaimQueue:
    """Which claims the coordinator's list shows first. "Att hantera": those waiting for the coordinator, under
    granskning (a question answered included), not those waiting for the clinic's answer."""

    TO_HANDLE = "to_handle"
    ALL = ""


class QuestionFilter:
    """Fråga väntar: the clinic has not answered yet. Besvarad: every question answered."""

    WAITING = "waiting"
    ANSWERED = "answered"


@dataclass(frozen=True)
class ClaimFilter:
    """What the coordinator's list of claims filters by; None or "" means any. Amounts in öre, dates inclusive.
    The personnummer only ever comes from a POST (kept in the session, never in a URL)."""

    queue: str = ClaimQueue.ALL
    question: str = ""
    reference: str = ""  # the invoice's OCR/Fakturanummer
    claim_reference: str = ""  # räkningsreferens
    our_reference: str = ""  # Vår referens
    personal_identity_number: str = ""
    clinic: Clinic | None = None
    support_form: str = ""
    state: str = ""
    amount_from: int | None = None
    amount_to: int | None = None
    date_from: datetime.date | None = None  # the day the claim came in
    date_to: datetime.date | None = None


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _unanswered() -> QuerySet[ClaimQuestion]:
    return ClaimQuestion.objects.filter(claim=OuterRef("pk"), answered_at__isnull=True)


def _answered() -> QuerySet[ClaimQuestion]:
    return ClaimQuestion.objects.filter(claim=OuterRef("pk"), answered_at__isnull=False)


def to_handle() -> Q:
    """Att hantera: under granskning and not waiting for the clinic's answer (an answered question is the
    coordinator's again)."""
    return Q(state=ClaimState.UNDER_REVIEW) & ~Exists(_unanswered())


def question_answered() -> Q:
    """Besvarad: the claim's questions are all answered (and it has one), while it is still open.

    From the claim's own column, which the database keeps as its questions are asked, answered or removed
    (`Claim.questions_answered`, review migration 0004), so that the region's count reads the small index of the
    open claims that have it (claims.models' claim_questions_answered_open) rather than every answered question's
    claim."""
    return Q(state__in=OPEN_STATES, questions_answered=True)


def region_claims_matching(*, region: Region, claim_filter: ClaimFilter) -> QuerySet[Claim]:
    """The claims of the region's clinics that match the filter, as bare rows (for a count)."""
    claims = Claim.objects.of_region(region)
    f = claim_filter
    if f.queue == ClaimQueue.TO_HANDLE:
        claims = claims.filter(to_handle())
    if f.question == QuestionFilter.WAITING:
        claims = claims.filter(Exists(_unanswered()))
    if f.question == QuestionFilter.ANSWERED:
        claims = claims.filter(question_answered())
    if f.reference:
        claims = claims.filter(invoice__reference__iexact=f.reference)
    if f.claim_reference:
        claims = claims.filter(reference__iexact=f.claim_reference)
    if f.our_reference:
        # The Vår referens the payout run gave the claim's invoice (claims.services.invoice_payout_set).
        claims = claims.filter(invoice__our_reference=f.our_reference)
    if f.personal_identity_number:
        claims = claims.filter(patient__personal_identity_number=f.personal_identity_number)
    if f.clinic is not None:
        claims = claims.filter(clinic=f.clinic)
    if f.support_form:
        claims = claims.filter(support_form=f.support_form)
    if f.state:
        claims = claims.filter(state=f.state)
    if f.amount_from is not None:
        claims = claims.filter(total__gte=f.amount_from)
    if f.amount_to is not None:
        claims = claims.filter(total__lte=f.amount_to)
    if f.date_from is not None:
        claims = claims.filter(created_at__gte=_start_of(f.date_from))
    if f.date_to is not None:
        claims = claims.filter(created_at__lt=_start_of(f.date_to + datetime.timedelta(days=1)))
    return claims


def region_claims(*, region: Region, claim_filter: ClaimFilter) -> QuerySet[Claim]:
    """The claims of the region's clinics that match the filter, newest first, with what the list shows. Each
    filter's order has its index (claims.models: by time; by state and time; by clinic and time), so a page,
    whichever, reads its rows from an index in order (portal.keyset)."""
    return (
        region_claims_matching(region=region, claim_filter=claim_filter)
        .select_related("clinic", "patient")
        # The columns a row shows (and its status, claims.selectors.claim_status): not the clinic's or the
        # patient's every column, 50 rows a page.
        .only(*LIST_COLUMNS)
        .annotate(has_open_question=Exists(_unanswered()), has_answered_question=Exists(_answered()))
        .order_by("-created_at", "-id")
    )


LIST_COLUMNS = (
    "reference",
    "support_form",
    "created_at",
    "total",
    "state",
    "approved_on",
    "paid_on",
    "clinic__number",
    "clinic__name",
    "patient__personal_identity_number",
)


def region_claim(*, region: Region, claim_pk: int) -> Claim | None:
    """One claim of the region's clinics with everything the clinic sent and its history, or None."""
    lines = ClaimLine.objects.select_related("tariff_row").order_by("visit_date", "position")
    return (
        Claim.objects.of_region(region)
        .select_related(
            "invoice",
            "clinic",
            "patient",
            "created_by",
            "certificate",
            "care_model",
            "patient_category",
            "prior_assessment",
        )
        .prefetch_related(
            Prefetch("lines", queryset=lines),
            Prefetch("events", queryset=ClaimEvent.objects.select_related("actor").order_by("occurred_at", "id")),
            Prefetch("questions", queryset=_questions_shown(ClaimQuestion.objects.all())),
            "prior_assessment__attachments",
            "prior_assessment__lines",
        )
        .filter(pk=claim_pk)
        .first()
    )


def _questions_shown(questions: QuerySet[ClaimQuestion]) -> QuerySet[ClaimQuestion]:
    return questions.select_related("asked_by", "answered_by").order_by("asked_at", "id")


def claim_questions(*, claim: Claim) -> list[ClaimQuestion]:
    """The questions about a claim, oldest first, with who asked and who answered."""
    return list(_questions_shown(claim.questions.all()))


def region_rules(*, region: Region) -> QuerySet[ReviewRule]:
    """The region's rules: active first, then those deactivated, with the names the list shows."""
    return ReviewRule.objects.of_region(region).select_related("clinic", "created_by", "deactivated_by")


def region_rule(*, region: Region, rule_pk: int) -> ReviewRule | None:
    return region_rules(region=region).filter(pk=rule_pk).first()


def invoice_claims_in_region(*, region: Region, invoice_pk: int) -> tuple[Invoice | None, list[Claim]]:
    """An invoice of one of the region's clinics and its claims, or (None, [])."""
    invoice = Invoice.objects.of_region(region).select_related("clinic").filter(pk=invoice_pk).first()
    if invoice is None:
        return None, []
    return invoice, list(invoice.claims.select_related("patient").order_by("reference"))


def possible_duplicates(*, region: Region, claim: Claim) -> list[Claim]:
    """The other clinics' claims with the same care that put `claim` under review as "möjlig dubblett" (their ids
    are in the claim's events, `review.services`), of the region's clinics: for the coordinator only."""
    ids = {
        rule["other_claim"]
        for event in claim.events.all()
        for rule in event.params.get("rules", [])
        if isinstance(rule, dict) and rule.get("other_claim")
    }
    if not ids:
        return []
    return list(Claim.objects.of_region(region).select_related("clinic").filter(pk__in=ids).order_by("pk"))
