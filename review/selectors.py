"""Reads of the review: the region's claims by filter, one claim with all it holds, rules and questions."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from claims.models import Claim, ClaimEvent, ClaimLine, Invoice
from clinics.models import Clinic, Region

from .models import ClaimQuestion, ReviewRule


@dataclass(frozen=True)
class ClaimFilter:
    """What the coordinator's list of claims filters by; None or "" means any. Amounts in öre, dates inclusive."""

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


def region_claims(*, region: Region, claim_filter: ClaimFilter) -> QuerySet[Claim]:
    """The claims of the region's clinics that match the filter, newest first, with what the list shows."""
    claims = Claim.objects.of_region(region)
    f = claim_filter
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
    return (
        claims.select_related("clinic", "invoice", "patient")
        .annotate(has_open_question=Exists(_unanswered()))
        .order_by("-created_at", "-id")
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
