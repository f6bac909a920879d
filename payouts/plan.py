"""What a payout run for a region and date pays: one calculation, for the preview and for the run itself.

`run_plan` reads the region's open claims and sorts them into those the run pays and those it leaves out (with
why), groups the paid ones per clinic and invoice, and sets off each bankgiro clinic's pending credits, never
below zero. The preview shows the plan (payouts.selectors.payout_preview); the run writes it
(payouts.services.payout_run_create), computed again under lock, and refuses when its fingerprint is not the
one the coordinator saw.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import Claim, ClaimState, CreditInvoice, Invoice
from clinics.models import Clinic, PaymentMethod, Region, SupportForm
from clinics.rules import region_rules
from eligibility.models import APPROVED_STATES
from portal import validators

from .models import PayoutRunState, SetOff

# What the run reads of each claim (claims.services.claims_approve_for_payout, claims_mark_paid read these too):
# a deferred field read would cost a query per claim.
RUN_CLAIM_FIELDS = ("id", "state", "approved_on", "paid_on", "clinic_id", "invoice_id", "reference", "total")
PLAN_CLAIM_FIELDS = (
    *RUN_CLAIM_FIELDS,
    "support_form",
    "prior_assessment__state",
    "invoice__received_at",
    "invoice__reference",
    "clinic__number",
)


class LeftOutReason:
    UNDER_REVIEW = "under_review"
    CAME_IN_LATER = "came_in_later"
    APPROVED_FOR_LATER = "approved_for_later"
    WAITING_FOR_PRIOR_ASSESSMENT = "waiting_for_prior_assessment"


@dataclass
class LeftOut:
    claim: Claim
    reason: str

    @property
    def text(self) -> str:
        if self.reason == LeftOutReason.UNDER_REVIEW:
            return _("Under granskning")
        if self.reason == LeftOutReason.CAME_IN_LATER:
            return _("Inkom efter utbetalningsdatum")
        if self.reason == LeftOutReason.APPROVED_FOR_LATER:
            return _("Godkänd för senare datum (%(date)s)") % {"date": self.claim.approved_on.isoformat()}
        return _("Väntar på godkänd förhandsbedömning")


@dataclass
class PlannedInvoice:
    invoice: Invoice
    claims: list[Claim]

    @property
    def amount(self) -> int:
        return sum(claim.total for claim in self.claims)


@dataclass
class PlannedPayment:
    clinic: Clinic
    invoices: list[PlannedInvoice]
    set_offs: list[tuple[CreditInvoice, int]] = field(default_factory=list)

    @property
    def gross(self) -> int:
        return sum(planned.amount for planned in self.invoices)

    @property
    def set_off(self) -> int:
        return sum(amount for _credit, amount in self.set_offs)

    @property
    def net(self) -> int:
        return self.gross - self.set_off

    @property
    def claim_count(self) -> int:
        return sum(len(planned.claims) for planned in self.invoices)

    @property
    def account_display(self) -> str:
        if self.clinic.payment_method == PaymentMethod.BANKGIRO:
            return f"BG {validators.format_bankgiro(self.clinic.account_number)}"
        return f"PG {validators.format_plusgiro(self.clinic.account_number)}"


@dataclass
class RunPlan:
    region: Region
    payout_date: datetime.date
    payments: list[PlannedPayment]
    left_out: list[LeftOut]

    @property
    def claims(self) -> list[Claim]:
        return [claim for payment in self.payments for planned in payment.invoices for claim in planned.claims]

    @property
    def claim_count(self) -> int:
        return sum(payment.claim_count for payment in self.payments)

    @property
    def gross_total(self) -> int:
        return sum(payment.gross for payment in self.payments)

    @property
    def set_off_total(self) -> int:
        return sum(payment.set_off for payment in self.payments)

    @property
    def net_total(self) -> int:
        return sum(payment.net for payment in self.payments)

    @property
    def needs_second_confirmation(self) -> bool:
        """Four eyes: a run paying more than the region's amount waits for a second coordinator."""
        return self.net_total > self.second_confirmation_above

    @property
    def second_confirmation_above(self) -> int:
        """The region's four-eyes amount in force today (`clinics.rules.region_rules`)."""
        return region_rules(self.region).payout_second_confirmation_above

    @property
    def fingerprint(self) -> str:
        """What the coordinator saw: every claim and its amount, every set-off and account. Equal plans, equal
        fingerprints; any claim added, gone or changed in amount, or a set-off or account changed, another."""
        digest = hashlib.sha256(self.payout_date.isoformat().encode())
        for payment in self.payments:
            digest.update(
                f"|c{payment.clinic.pk}:{payment.clinic.payment_method}:{payment.clinic.account_number}".encode()
            )
            for planned in payment.invoices:
                for claim in planned.claims:
                    digest.update(f"|{claim.pk}:{claim.total}".encode())
            for credit, amount in payment.set_offs:
                digest.update(f"|s{credit.pk}:{amount}".encode())
        return digest.hexdigest()


def left_out_reason(claim: Claim, payout_date: datetime.date, cutoff: datetime.datetime) -> str | None:
    """Why the run for `payout_date` leaves the open claim out, or None when it pays it."""
    if claim.state == ClaimState.UNDER_REVIEW:
        return LeftOutReason.UNDER_REVIEW
    if claim.invoice.received_at >= cutoff:
        return LeftOutReason.CAME_IN_LATER
    if claim.state == ClaimState.APPROVED and claim.approved_on is not None and claim.approved_on > payout_date:
        return LeftOutReason.APPROVED_FOR_LATER
    if claim.support_form == SupportForm.S and (
        claim.prior_assessment_id is None or claim.prior_assessment.state not in APPROVED_STATES
    ):
        return LeftOutReason.WAITING_FOR_PRIOR_ASSESSMENT
    return None


def pending_credits(*, clinic: Clinic, lock: bool = False) -> list[tuple[CreditInvoice, int]]:
    """A bankgiro clinic's credits not yet fully set off, oldest first, with what is left of each (öre).
    A cancelled run's set-offs do not count: its credits wait for the next run again."""
    credits = CreditInvoice.objects.filter(clinic=clinic, repayment__isnull=True).order_by("created_at", "pk")
    if lock:
        credits = credits.select_for_update(of=("self",))
    credits = list(credits)
    done = dict(
        SetOff.objects.filter(credit_invoice__in=credits)
        .exclude(payment__run__state=PayoutRunState.CANCELLED)
        .values("credit_invoice")
        .annotate(total=Sum("amount"))
        .values_list("credit_invoice", "total")
    )
    return [
        (credit, credit.total - done.get(credit.pk, 0)) for credit in credits if credit.total > done.get(credit.pk, 0)
    ]


def _set_offs(clinic: Clinic, gross: int, *, lock: bool) -> list[tuple[CreditInvoice, int]]:
    """The clinic's pending credits deducted from `gross`, oldest first, down to zero and no further."""
    room, set_offs = gross, []
    for credit, left in pending_credits(clinic=clinic, lock=lock):
        if room == 0:
            break
        amount = min(room, left)
        set_offs.append((credit, amount))
        room -= amount
    return set_offs


def run_plan(*, region: Region, payout_date: datetime.date, lock: bool = False) -> RunPlan:
    """The run for `region` and `payout_date` as it would be made now. With `lock` (inside the run's
    transaction) the claims paid and the credits set off are locked, so that the plan is what is written.

    The run pays the region's claims under behandling, or approved and not in a run, on invoices that came in by
    the payout date. It leaves out claims under granskning, claims approved for a later date, and S claims
    whose prior assessment is not approved.
    """
    cutoff = timezone.make_aware(datetime.datetime.combine(payout_date + datetime.timedelta(days=1), datetime.time()))
    claims = (
        Claim.objects.of_region(region)
        .filter(
            state__in=(ClaimState.RECEIVED, ClaimState.UNDER_REVIEW, ClaimState.APPROVED),
            payout__isnull=True,
        )
        .select_related("invoice", "prior_assessment", "clinic")
        # Only what the run uses: a region's run may hold 100 000 claims in the coordinator's request.
        .only(*PLAN_CLAIM_FIELDS)
        .order_by("clinic__number", "invoice_id", "reference", "pk")
    )
    if lock:
        claims = claims.select_for_update(of=("self",))
    paid: dict[int, dict[int, list[Claim]]] = {}
    left_out = []
    for claim in claims:
        reason = left_out_reason(claim, payout_date, cutoff)
        if reason is None:
            paid.setdefault(claim.clinic_id, {}).setdefault(claim.invoice_id, []).append(claim)
        else:
            left_out.append(LeftOut(claim, reason))

    invoices = Invoice.objects.of_region(region).in_bulk(
        [invoice_id for by_invoice in paid.values() for invoice_id in by_invoice]
    )
    clinics = Clinic.objects.of_region(region).in_bulk(list(paid))
    payments = []
    for clinic_id in sorted(paid, key=lambda pk: clinics[pk].number.zfill(10)):
        clinic = clinics[clinic_id]
        by_invoice = paid[clinic_id]
        payment = PlannedPayment(
            clinic=clinic,
            invoices=[
                PlannedInvoice(invoices[invoice_id], by_invoice[invoice_id])
                for invoice_id in sorted(by_invoice, key=lambda pk: (invoices[pk].reference, pk))
            ],
        )
        if clinic.payment_method == PaymentMethod.BANKGIRO:
            payment.set_offs = _set_offs(clinic, payment.gross, lock=lock)
        payments.append(payment)
    left_out.sort(key=lambda item: (item.claim.clinic.number.zfill(10), item.claim.reference))
    return RunPlan(region=region, payout_date=payout_date, payments=payments, left_out=left_out)
