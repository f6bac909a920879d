"""Reads of claims: a claim's status as the clinic and the region see it, and the amount paid for a patient in a
year. The clinic's invoice lists (Era fakturor) are in billing.selectors."""

from __future__ import annotations

from django.db.models import Sum
from django.utils.translation import gettext as _

from .models import Claim, ClaimState, CreditLine

# Status texts --------------------------------------------------------------------------------------------------


def claim_status(claim: Claim) -> str:
    """A claim's status as Era fakturor shows it, with its date where it has one."""
    if claim.state == ClaimState.UNDER_REVIEW:
        if getattr(claim, "has_open_question", False):
            return _("Räkningen är under granskning: svara på tandvårdssamordningens fråga")
        return _("Räkningen är under granskning")
    if claim.state == ClaimState.APPROVED:
        if claim.approved_on:
            return _("Godkänd för utbetalning %(date)s") % {"date": claim.approved_on.isoformat()}
        # Approved by the coordinator; the payout run gives it its payout date.
        return _("Godkänd, väntar på utbetalning")
    if claim.state == ClaimState.PAID:
        if getattr(claim, "credited_lines", 0):
            return _("Delvis krediterad")
        if claim.paid_on:
            return _("Utbetald %(date)s") % {"date": claim.paid_on.isoformat()}
    return str(claim.get_state_display())


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
