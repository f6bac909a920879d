"""Reads of claims: a claim's status as the clinic and the region see it, and the amount paid for a patient in a
year. The clinic's invoice lists (Era fakturor) are in billing.selectors."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Sum
from django.utils.translation import gettext as _

from eligibility.models import PriorAssessment

from .models import PATIENT_FEE_CODE, Claim, ClaimLine, ClaimState, CreditLine

# Status texts --------------------------------------------------------------------------------------------------


def claim_status(claim: Claim) -> str:
    """A claim's status as Era fakturor shows it, with its date where it has one."""
    return claim_status_text(
        state=claim.state,
        approved_on=claim.approved_on,
        paid_on=claim.paid_on,
        has_credited_lines=getattr(claim, "has_credited_lines", False),
        has_open_question=getattr(claim, "has_open_question", False),
    )


def claim_status_text(
    *,
    state: str,
    approved_on: datetime.date | None,
    paid_on: datetime.date | None,
    has_credited_lines: bool = False,
    has_open_question: bool = False,
) -> str:
    """The same from a claim's values (an export reads them as tuples, not as claims)."""
    if state == ClaimState.UNDER_REVIEW:
        if has_open_question:
            return _("Räkningen är under granskning: svara på tandvårdssamordningens fråga")
        return _("Räkningen är under granskning")
    if state == ClaimState.APPROVED:
        if approved_on:
            return _("Godkänd för utbetalning %(date)s") % {"date": approved_on.isoformat()}
        # Approved by the coordinator; the payout run gives it its payout date.
        return _("Godkänd, väntar på utbetalning")
    if state == ClaimState.PAID:
        if has_credited_lines:
            return _("Delvis krediterad")
        if paid_on:
            return _("Utbetald %(date)s") % {"date": paid_on.isoformat()}
    return str(ClaimState(state).label)


def patient_paid_in_year(*, region, personal_identity_number: str, year: int) -> int:
    """What the region has paid out for the patient in the calendar year, less what clinics credited (öre)."""
    paid = (
        Claim.objects.of_region(region)
        .filter(
            patient__personal_identity_number=personal_identity_number,
            state__in=[ClaimState.PAID, ClaimState.CREDITED],
            paid_on__year=year,
        )
        .aggregate(total=Sum("total"))["total"]
        or 0
    )
    credited = (
        CreditLine.objects.of_region(region)
        .filter(
            claim_line__claim__patient__personal_identity_number=personal_identity_number,
            claim_line__claim__paid_on__year=year,
        )
        .aggregate(total=Sum("amount"))["total"]
        or 0
    )
    return paid - credited


# Prior assessments: what is billed against them ----------------------------------------------------------------

# A claim deleted or voided was never paid: its lines give their part of the FHB back, as credited lines do.
_NOT_BILLED = (ClaimState.DELETED, ClaimState.VOIDED)


@dataclass(frozen=True)
class BilledLine:
    """A treatment line billed against a prior assessment, as the FHB's use counts it."""

    code: str
    tooth: str
    jaw: str
    amount: int


@dataclass(frozen=True)
class PriorAssessmentUse:
    """An FHB's money, in öre: approved (its approved lines at their approved amounts: a limitation's own
    figures), billed (lines of its live claims, credited lines given back) and what is left."""

    approved: int
    billed: int

    @property
    def left(self) -> int:
        return max(self.approved - self.billed, 0)

    @property
    def share(self) -> int:
        """The billed share of the approved amount in whole percent (rounded down), for the meter and the rules."""
        return self.billed * 100 // self.approved if self.approved else 100


def prior_assessment_billed_lines(*, region, assessment_ids: Iterable[int]) -> dict[int, list[BilledLine]]:
    """The billed treatment lines of each of the region's prior assessments, in one query: lines of claims that
    are not deleted or voided, less credited lines and patient fees. By assessment id, only those with any."""
    ids = set(assessment_ids)
    if not ids:
        return {}
    rows = (
        ClaimLine.objects.of_region(region)
        .filter(claim__prior_assessment_id__in=ids, credit__isnull=True)
        .exclude(claim__state__in=_NOT_BILLED)
        .exclude(code=PATIENT_FEE_CODE)
        .order_by("claim_id", "position")
        .values_list("claim__prior_assessment_id", "code", "tooth", "jaw", "amount")
    )
    billed: dict[int, list[BilledLine]] = {}
    for assessment_id, code, tooth, jaw, amount in rows:
        billed.setdefault(assessment_id, []).append(BilledLine(code, tooth, jaw, amount))
    return billed


def prior_assessment_uses(assessments: Iterable[PriorAssessment]) -> dict[int, PriorAssessmentUse]:
    """Godkänt · Fakturerat · Kvar of each prior assessment (with its lines prefetched or not), by id."""
    assessments = list(assessments)
    billed: dict[int, list[BilledLine]] = {}
    for region_id in {assessment.region_id for assessment in assessments}:
        ids = [assessment.pk for assessment in assessments if assessment.region_id == region_id]
        billed |= prior_assessment_billed_lines(region=region_id, assessment_ids=ids)
    return {
        assessment.pk: PriorAssessmentUse(
            approved=assessment.approved_total if assessment.is_approved else 0,
            billed=sum(line.amount for line in billed.get(assessment.pk, [])),
        )
        for assessment in assessments
    }


def prior_assessment_use(assessment: PriorAssessment) -> PriorAssessmentUse:
    return prior_assessment_uses([assessment])[assessment.pk]
