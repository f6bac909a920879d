"""Payout runs, set-offs, repayments and the daily marking of paid claims; each in one transaction with its audit.

Locks, in this order everywhere: the region's Vår referens counter (which also keeps two runs of one region
apart), then claims, then their invoices, then credit invoices. The claim services lock a claim before its
invoice, so the two never wait for each other in a circle.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import Claim, ClaimState, CreditInvoice, Invoice
from claims.services import claims_approve_for_payout, claims_mark_paid, invoice_payout_set
from clinics.models import Clinic, PaymentMethod, Region, User
from portal.audit import audit_record, snapshot

from . import bankdays
from .audit import PayoutsAudit
from .models import (
    PAYOUT_RUN_TRANSITIONS,
    OurReferenceCounter,
    PayoutClaim,
    PayoutInvoice,
    PayoutPayment,
    PayoutRun,
    PayoutRunState,
    Repayment,
    SetOff,
)

# Vår referens is a six-digit number from here on, like the manual's (518148); one sequence per region.
OUR_REFERENCE_BASE = 100_000


@dataclass(frozen=True)
class PayoutRunResult:
    run: PayoutRun
    created: bool


# Payout dates ---------------------------------------------------------------------------------------------


def payout_date_check(payout_date: datetime.date, *, today: datetime.date | None = None) -> None:
    """Refuse a payout date in the past or on a day the banks are closed, saying why in Swedish."""
    today = today or timezone.localdate()
    if payout_date < today:
        raise ValidationError(
            {"payout_date": _("Utbetalningsdatum kan inte ligga före i dag (%(today)s).") % {"today": today}},
            code="past",
        )
    if not bankdays.is_bank_day(payout_date):
        reason = bankdays.holiday_name(payout_date) or (_("lördag") if payout_date.weekday() == 5 else _("söndag"))
        raise ValidationError(
            {
                "payout_date": _("%(date)s är ingen bankdag (%(reason)s). Närmaste bankdag är %(next)s.")
                % {
                    "date": payout_date.isoformat(),
                    "reason": reason,
                    "next": bankdays.next_bank_day(payout_date).isoformat(),
                }
            },
            code="not_bank_day",
        )


# The run --------------------------------------------------------------------------------------------------


def payout_run_create(
    *, actor: User, region: Region, payout_date: datetime.date, today: datetime.date | None = None
) -> PayoutRunResult:
    """Make the region's run for `payout_date`, or find the one already made (twice, or twice at once: one run).

    The run collects the region's claims that are received (under behandling), or approved without a payout,
    on invoices that came in by the payout date; claims under review wait. They are approved for the payout
    date, grouped per clinic and invoice, and each invoice is given its Vår referens. A bankgiro clinic's
    pending credits are set off against its payout, never below zero; the rest waits for the next run.
    """
    payout_date_check(payout_date, today=today)
    existing = PayoutRun.objects.filter(region=region, payout_date=payout_date).first()
    if existing is not None:
        return PayoutRunResult(existing, created=False)
    try:
        with transaction.atomic():
            counter = _lock_counter(region)
            # A run made while this one waited for the lock is seen now: it has committed.
            existing = PayoutRun.objects.filter(region=region, payout_date=payout_date).first()
            if existing is not None:
                return PayoutRunResult(existing, created=False)
            run = _run_make(actor=actor, region=region, payout_date=payout_date, counter=counter)
    except IntegrityError:
        # The unique (region, payout date) is the last word, should a run slip past the lock.
        existing = PayoutRun.objects.filter(region=region, payout_date=payout_date).first()
        if existing is None:
            raise
        return PayoutRunResult(existing, created=False)
    return PayoutRunResult(run, created=True)


# What approving, paying and grouping a run's claims read of each (claims.services.claims_approve_for_payout,
# claims_mark_paid): a deferred field read would cost a query per claim.
RUN_CLAIM_FIELDS = ("id", "state", "approved_on", "paid_on", "clinic_id", "invoice_id", "reference", "total")


def _lock_counter(region: Region) -> OurReferenceCounter:
    OurReferenceCounter.objects.bulk_create([OurReferenceCounter(region=region)], ignore_conflicts=True)
    return OurReferenceCounter.objects.select_for_update().get(region=region)


def _collectable_claims(region: Region, payout_date: datetime.date) -> list[Claim]:
    """The claims the run pays, locked: received, or approved and not yet in a run; invoice in by the date."""
    cutoff = timezone.make_aware(datetime.datetime.combine(payout_date + datetime.timedelta(days=1), datetime.time()))
    return list(
        Claim.objects.select_for_update(of=("self",))
        .filter(
            clinic__region=region,
            state__in=(ClaimState.RECEIVED, ClaimState.APPROVED),
            payout__isnull=True,
            invoice__received_at__lt=cutoff,
        )
        # Only what the run uses: a region's run may hold 100 000 claims in the coordinator's request.
        .only(*RUN_CLAIM_FIELDS)
        .order_by("clinic__number", "invoice_id", "reference", "pk")
    )


def _run_make(*, actor: User, region: Region, payout_date: datetime.date, counter: OurReferenceCounter) -> PayoutRun:
    claims = _collectable_claims(region, payout_date)
    if not claims:
        raise ValidationError(
            {"payout_date": _("Det finns inga räkningar att betala ut. Räkningar under granskning väntar.")},
            code="empty",
        )
    run = PayoutRun.objects.create(region=region, payout_date=payout_date, created_by=actor)
    claims_approve_for_payout(actor=actor, claims=claims, payout_date=payout_date)

    by_clinic: dict[int, dict[int, list[Claim]]] = defaultdict(lambda: defaultdict(list))
    for claim in claims:
        by_clinic[claim.clinic_id][claim.invoice_id].append(claim)
    invoices = Invoice.objects.select_for_update().in_bulk([claim.invoice_id for claim in claims])
    clinics = Clinic.objects.in_bulk({claim.clinic_id for claim in claims})

    for clinic_id in sorted(by_clinic, key=lambda pk: clinics[pk].number.zfill(10)):
        clinic = clinics[clinic_id]
        claims_by_invoice = by_clinic[clinic_id]
        gross = sum(claim.total for items in claims_by_invoice.values() for claim in items)
        payment = PayoutPayment.objects.create(
            run=run,
            clinic=clinic,
            payment_method=clinic.payment_method,
            account_number=clinic.account_number,
            gross=gross,
            set_off=0,
            net=gross,
        )
        for invoice_id in sorted(claims_by_invoice, key=lambda pk: (invoices[pk].reference, pk)):
            invoice = invoices[invoice_id]
            items = claims_by_invoice[invoice_id]
            counter.last_value += 1
            payout_invoice = PayoutInvoice.objects.create(
                payment=payment,
                invoice=invoice,
                region=region,
                our_reference=str(OUR_REFERENCE_BASE + counter.last_value),
                amount=sum(claim.total for claim in items),
            )
            PayoutClaim.objects.bulk_create(
                PayoutClaim(payout_invoice=payout_invoice, claim=claim, amount=claim.total) for claim in items
            )
            invoice_payout_set(
                actor=actor, invoice=invoice, our_reference=payout_invoice.our_reference, payout_date=payout_date
            )
        if clinic.payment_method == PaymentMethod.BANKGIRO:
            _set_off(payment)
    counter.save(update_fields=["last_value"])
    _repayments_register(region=region, actor=actor)

    totals = run.payments.aggregate(gross=Sum("gross"), set_off=Sum("set_off"), net=Sum("net"))
    run.claim_count = len(claims)
    run.gross_total, run.set_off_total, run.net_total = totals["gross"], totals["set_off"], totals["net"]
    run.save(update_fields=["claim_count", "gross_total", "set_off_total", "net_total"])
    audit_record(
        actor=actor,
        action=PayoutsAudit.RUN_CREATED,
        obj=run,
        after=snapshot(run, ["payout_date", "claim_count", "gross_total", "set_off_total", "net_total"]),
        region=region,
    )
    from .tasks import send_payout_notice

    for payment_id in run.payments.values_list("pk", flat=True):
        transaction.on_commit(lambda pk=payment_id: send_payout_notice.delay(pk))
    return run


# Set-off and repayments -------------------------------------------------------------------------------------


def pending_credits(*, clinic: Clinic, lock: bool = False) -> list[tuple[CreditInvoice, int]]:
    """A bankgiro clinic's credits not yet fully set off, oldest first, with what is left of each (öre)."""
    credits = CreditInvoice.objects.filter(clinic=clinic, repayment__isnull=True).order_by("created_at", "pk")
    if lock:
        credits = credits.select_for_update(of=("self",))
    credits = list(credits)
    done = dict(
        SetOff.objects.filter(credit_invoice__in=credits)
        .values("credit_invoice")
        .annotate(total=Sum("amount"))
        .values_list("credit_invoice", "total")
    )
    return [
        (credit, credit.total - done.get(credit.pk, 0)) for credit in credits if credit.total > done.get(credit.pk, 0)
    ]


def _set_off(payment: PayoutPayment) -> None:
    """Deduct the clinic's pending credits from the payment, oldest first, down to zero and no further."""
    room = payment.gross
    for credit, left in pending_credits(clinic=payment.clinic, lock=True):
        if room == 0:
            break
        amount = min(room, left)
        SetOff.objects.create(payment=payment, credit_invoice=credit, amount=amount)
        room -= amount
    payment.set_off = payment.gross - room
    payment.net = room
    payment.save(update_fields=["set_off", "net"])


def _our_reference_of(credit: CreditInvoice) -> str:
    """The Vår referens under which the credited claims were paid (the invoice's latest, failing that)."""
    found = (
        PayoutInvoice.objects.filter(claims__claim__lines__credit__credit_invoice=credit)
        .order_by("-payment__run__payout_date")
        .values_list("our_reference", flat=True)
        .first()
    )
    return found or credit.invoice.our_reference


def credit_settle(*, credit: CreditInvoice, actor: User | None = None) -> Repayment | None:
    """A new credit of a plusgiro clinic is owed back to the region: record the repayment (call inside the
    credit's transaction). A bankgiro clinic's credit waits for the next run's set-off: nothing to do."""
    clinic = credit.clinic
    if clinic.payment_method != PaymentMethod.PLUSGIRO or credit.total == 0:
        return None
    if SetOff.objects.filter(credit_invoice=credit).exists():
        return None
    repayment, created = Repayment.objects.get_or_create(
        credit_invoice=credit,
        defaults={
            "region_id": clinic.region_id,
            "clinic": clinic,
            "amount": credit.total,
            "our_reference": _our_reference_of(credit),
        },
    )
    if created:
        audit_record(
            actor=actor,
            action=PayoutsAudit.REPAYMENT_OWED,
            obj=repayment,
            after=snapshot(repayment, ["credit_invoice", "amount", "our_reference"]),
            clinic=clinic,
            region=clinic.region_id,
        )
    return repayment


def _repayments_register(*, region: Region, actor: User | None) -> None:
    """Every plusgiro clinic's credit of the region that has no repayment yet gets one."""
    credits = CreditInvoice.objects.filter(
        clinic__region=region,
        clinic__payment_method=PaymentMethod.PLUSGIRO,
        repayment__isnull=True,
        set_offs__isnull=True,
        total__gt=0,
    ).select_related("clinic", "invoice")
    for credit in credits:
        credit_settle(credit=credit, actor=actor)


@transaction.atomic
def repayment_mark_received(
    *, actor: User, repayment: Repayment, received_on: datetime.date, today: datetime.date | None = None
) -> Repayment:
    """The repayment is on the region's account: record the day and who saw it."""
    today = today or timezone.localdate()
    if received_on > today:
        raise ValidationError({"received_on": _("Datumet kan inte ligga efter i dag.")}, code="future")
    repayment = Repayment.objects.select_for_update().get(pk=repayment.pk)
    if repayment.received_on is not None:
        return repayment
    repayment.received_on = received_on
    repayment.received_by = actor
    repayment.received_at = timezone.now()
    repayment.save(update_fields=["received_on", "received_by", "received_at"])
    audit_record(
        actor=actor,
        action=PayoutsAudit.REPAYMENT_RECEIVED,
        obj=repayment,
        after=snapshot(repayment, ["received_on", "amount", "our_reference"]),
        clinic=repayment.clinic_id,
        region=repayment.region_id,
    )
    return repayment


# Paid -------------------------------------------------------------------------------------------------------


def payout_runs_mark_paid(*, today: datetime.date | None = None) -> int:
    """Mark Utbetald every claim of every run whose payout date has passed in bank days (see bankdays).

    Idempotent: a run marked once is skipped, so the job may run twice a day, or days late. Returns how many
    claims it marked.
    """
    today = today or timezone.localdate()
    marked = 0
    due = PayoutRun.objects.filter(state=PayoutRunState.PLANNED, payout_date__lt=today).order_by("payout_date", "pk")
    for run_id, payout_date in due.values_list("pk", "payout_date"):
        if bankdays.payout_date_has_passed(payout_date, today=today):
            marked += payout_run_mark_paid(run=PayoutRun(pk=run_id))
    return marked


@transaction.atomic
def payout_run_mark_paid(*, run: PayoutRun) -> int:
    run = PayoutRun.objects.select_for_update().get(pk=run.pk)
    if run.state == PayoutRunState.PAID:
        return 0
    # Only approved claims become paid: one marked already (the job run twice, or late) is left. The invoices
    # were given their Vår referens and payout date when the run was made.
    claims = list(
        Claim.objects.select_for_update()
        .filter(payout__payout_invoice__payment__run=run, state=ClaimState.APPROVED)
        .only(*RUN_CLAIM_FIELDS)
        .order_by("pk")
    )
    claims_mark_paid(actor=None, claims=claims, paid_on=run.payout_date)
    marked = len(claims)
    run.paid_at = timezone.now()
    PAYOUT_RUN_TRANSITIONS.move(run, PayoutRunState.PAID, fields=["paid_at"])
    audit_record(
        actor=None,
        action=PayoutsAudit.RUN_PAID,
        obj=run,
        after={"state": run.state, "claims": marked},
        region=run.region_id,
    )
    return marked
