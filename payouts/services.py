"""Payout runs, set-offs, repayments and the daily marking of paid claims; each in one transaction with its audit.

Locks, in this order everywhere: the region's Vår referens counter (which also keeps two runs of one region
apart), then claims, then their invoices, then credit invoices. The claim services lock a claim before its
invoice, so the two never wait for each other in a circle.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.audit import ClaimsAudit
from claims.models import Claim, ClaimState, CreditInvoice, Invoice
from claims.services import claims_approve_for_payout, claims_mark_paid, claims_payout_cancel, invoice_payout_set
from clinics.models import PaymentMethod, Region, User
from clinics.rules import region_rules
from portal.audit import audit_record, snapshot
from portal.events import NewClinicEvent, clinic_events_record
from portal.models import ClinicEventKind
from portal.money import format_kronor

from . import bankdays
from .audit import PayoutsAudit
from .models import (
    LIVE_RUN_STATES,
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
from .plan import (
    RUN_CLAIM_FIELDS,
    pending_credits,  # noqa: F401  (read from here by the tests, as before the plan had its module)
    run_plan,
)
from .tasks import send_payout_notice

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

FINGERPRINT_CHANGED = "fingerprint_changed"


def _live_run(region: Region, payout_date: datetime.date) -> PayoutRun | None:
    return PayoutRun.objects.filter(region=region, payout_date=payout_date, state__in=LIVE_RUN_STATES).first()


def payout_run_create(
    *,
    actor: User,
    region: Region,
    payout_date: datetime.date,
    today: datetime.date | None = None,
    fingerprint: str | None = None,
) -> PayoutRunResult:
    """Make the region's run for `payout_date` from its plan (payouts.plan.run_plan, the preview's calculation),
    or find the live one already made (twice, or twice at once: one run).

    `fingerprint` is the previewed plan's: when the plan is another now (a claim came, went or changed), nothing
    is made and the refusal (code "fingerprint_changed") says so. The run is planned, or awaits a second
    coordinator when it pays more than the region's amount (four eyes). Its claims are approved for the payout
    date (re-dated, if approved for an earlier one), each invoice is given its Vår referens and each bankgiro
    clinic's pending credits are set off. Nobody is told yet: notices go when the payment file is downloaded.
    """
    payout_date_check(payout_date, today=today)
    existing = _live_run(region, payout_date)
    if existing is not None:
        return PayoutRunResult(existing, created=False)
    try:
        with transaction.atomic():
            counter = _lock_counter(region)
            # A run made while this one waited for the lock is seen now: it has committed.
            existing = _live_run(region, payout_date)
            if existing is not None:
                return PayoutRunResult(existing, created=False)
            run = _run_make(
                actor=actor, region=region, payout_date=payout_date, counter=counter, fingerprint=fingerprint
            )
    except IntegrityError:
        # The unique (region, payout date) of live runs is the last word, should a run slip past the lock.
        existing = _live_run(region, payout_date)
        if existing is None:
            raise
        return PayoutRunResult(existing, created=False)
    return PayoutRunResult(run, created=True)


def _lock_counter(region: Region) -> OurReferenceCounter:
    OurReferenceCounter.objects.bulk_create([OurReferenceCounter(region=region)], ignore_conflicts=True)
    return OurReferenceCounter.objects.select_for_update().get(region=region)


def _run_make(
    *,
    actor: User,
    region: Region,
    payout_date: datetime.date,
    counter: OurReferenceCounter,
    fingerprint: str | None,
) -> PayoutRun:
    plan = run_plan(region=region, payout_date=payout_date, lock=True)
    if fingerprint is not None and fingerprint != plan.fingerprint:
        raise ValidationError(
            _(
                "Underlaget har ändrats sedan förhandsgranskningen: räkningar eller belopp är inte längre desamma. "
                "Ingen körning har skapats. Granska den nya förhandsgranskningen och bekräfta igen."
            ),
            code=FINGERPRINT_CHANGED,
        )
    claims = plan.claims
    if not claims:
        raise ValidationError(
            {"payout_date": _("Det finns inga räkningar att betala ut. Räkningar under granskning väntar.")},
            code="empty",
        )
    state = PayoutRunState.AWAITING_SECOND if plan.needs_second_confirmation else PayoutRunState.PLANNED
    run = PayoutRun.objects.create(region=region, payout_date=payout_date, created_by=actor, state=state)
    before = {claim.pk: (claim.state, claim.approved_on) for claim in claims}
    claims_approve_for_payout(actor=actor, claims=claims, payout_date=payout_date, redate=True)
    # Locked after the claims, as everywhere; what they showed before is kept for a cancellation.
    invoices = Invoice.objects.select_for_update().in_bulk([claim.invoice_id for claim in claims])

    for planned_payment in plan.payments:
        clinic = planned_payment.clinic
        payment = PayoutPayment.objects.create(
            run=run,
            clinic=clinic,
            payment_method=clinic.payment_method,
            account_number=clinic.account_number,
            gross=planned_payment.gross,
            set_off=planned_payment.set_off,
            net=planned_payment.net,
        )
        for planned in planned_payment.invoices:
            invoice = invoices[planned.invoice.pk]
            counter.last_value += 1
            payout_invoice = PayoutInvoice.objects.create(
                payment=payment,
                invoice=invoice,
                region=region,
                our_reference=str(OUR_REFERENCE_BASE + counter.last_value),
                amount=planned.amount,
                previous_our_reference=invoice.our_reference,
                previous_payout_date=invoice.payout_date,
            )
            PayoutClaim.objects.bulk_create(
                PayoutClaim(
                    payout_invoice=payout_invoice,
                    claim=claim,
                    amount=claim.total,
                    previous_state=before[claim.pk][0],
                    previous_approved_on=before[claim.pk][1],
                )
                for claim in planned.claims
            )
            invoice_payout_set(
                actor=actor, invoice=invoice, our_reference=payout_invoice.our_reference, payout_date=payout_date
            )
        SetOff.objects.bulk_create(
            SetOff(payment=payment, credit_invoice=credit, amount=amount) for credit, amount in planned_payment.set_offs
        )
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
        after={
            **snapshot(run, ["payout_date", "state", "claim_count", "gross_total", "set_off_total", "net_total"]),
            "fingerprint": plan.fingerprint,
        },
        region=region,
    )
    return run


def _run_locked(run: PayoutRun) -> PayoutRun:
    return PayoutRun.objects.select_for_update().select_related("region").get(pk=run.pk)


@transaction.atomic
def payout_run_confirm(*, actor: User, run: PayoutRun) -> PayoutRun:
    """Four eyes: a second coordinator, never the one who made it, confirms a run above the region's amount."""
    run = _run_locked(run)
    if run.state == PayoutRunState.PLANNED:
        return run
    if run.state == PayoutRunState.AWAITING_SECOND and run.created_by_id == actor.pk:
        raise ValidationError(
            _(
                "Du skapade körningen och kan inte också bekräfta den. En annan samordnare i regionen måste "
                "bekräfta körningar över %(amount)s."
            )
            % {"amount": format_kronor(region_rules(run.region).payout_second_confirmation_above)},
            code="same_person",
        )
    run.confirmed_by, run.confirmed_at = actor, timezone.now()
    PAYOUT_RUN_TRANSITIONS.move(run, PayoutRunState.PLANNED, fields=["confirmed_by", "confirmed_at"])
    audit_record(
        actor=actor,
        action=PayoutsAudit.RUN_CONFIRMED,
        obj=run,
        after={"state": run.state, "net_total": run.net_total},
        region=run.region_id,
    )
    return run


@transaction.atomic
def payout_run_file_download(*, actor: User, run: PayoutRun) -> PayoutRun:
    """The coordinator downloads the payment file: recorded (who, when) every time. The first download ends the
    run's cancellation and sends the clinics their utbetalningsbesked (after commit)."""
    run = _run_locked(run)
    if run.state not in (PayoutRunState.PLANNED, PayoutRunState.PAID):
        if run.state == PayoutRunState.AWAITING_SECOND:
            message = _("Körningen väntar på bekräftelse av en andra samordnare. Betalningsfilen finns efter det.")
        else:
            message = _("Körningen är makulerad och har ingen betalningsfil.")
        raise ValidationError(message, code="state")
    first = run.file_downloaded_at is None
    if first:
        run.file_downloaded_by, run.file_downloaded_at = actor, timezone.now()
        run.save(update_fields=["file_downloaded_by", "file_downloaded_at"])
        for payment_id in run.payments.values_list("pk", flat=True):
            transaction.on_commit(lambda pk=payment_id: send_payout_notice.delay(pk))
    audit_record(
        actor=actor,
        action=PayoutsAudit.RUN_FILE_DOWNLOADED,
        obj=run,
        after={"first": first, "net_total": run.net_total},
        region=run.region_id,
    )
    return run


@transaction.atomic
def payout_run_cancel(*, actor: User, run: PayoutRun) -> PayoutRun:
    """Makulera körning: until its payment file is downloaded, a run is undone. Its claims go back to what they
    were (under behandling, or approved with the date they had) with the event "Utbetalningskörningen DATE
    makulerades", its invoices show the Vår referens and payout date they had, its set-offs wait for the next
    run, and its date is free. The Vår referens numbers it used are not given again."""
    region = Region.objects.get(pk=run.region_id)
    _lock_counter(region)  # the lock order of runs: the counter first
    run = _run_locked(run)
    if run.state == PayoutRunState.CANCELLED:
        return run
    if run.file_downloaded_at is not None:
        raise ValidationError(
            _("Körningen kan inte makuleras: betalningsfilen laddades ner %(time)s.")
            % {"time": timezone.localtime(run.file_downloaded_at).strftime("%Y-%m-%d %H:%M")},
            code="downloaded",
        )
    PAYOUT_RUN_TRANSITIONS.check(run.state, PayoutRunState.CANCELLED)
    payout_claims = list(
        PayoutClaim.objects.filter(payout_invoice__payment__run=run).values_list(
            "pk", "claim_id", "previous_state", "previous_approved_on"
        )
    )
    claims = Claim.objects.select_for_update().only(*RUN_CLAIM_FIELDS).in_bulk([row[1] for row in payout_claims])
    claims_payout_cancel(
        actor=actor,
        claims=[(claims[claim_id], state, approved_on) for _pk, claim_id, state, approved_on in payout_claims],
        payout_date=run.payout_date,
    )
    payout_invoices = PayoutInvoice.objects.filter(payment__run=run).select_related("invoice").order_by("pk")
    for payout_invoice in payout_invoices:
        if payout_invoice.invoice.our_reference != payout_invoice.our_reference:
            continue  # a later run of the invoice's other claims numbered it since: that one it shows
        invoice_payout_set(
            actor=actor,
            invoice=payout_invoice.invoice,
            our_reference=payout_invoice.previous_our_reference,
            payout_date=payout_invoice.previous_payout_date,
            action=ClaimsAudit.INVOICE_PAYOUT_CANCELLED,
        )
    # The claims are free for another run; the run keeps its payments, invoices and set-offs as a record.
    PayoutClaim.objects.filter(pk__in=[row[0] for row in payout_claims]).delete()
    run.cancelled_by, run.cancelled_at = actor, timezone.now()
    PAYOUT_RUN_TRANSITIONS.move(run, PayoutRunState.CANCELLED, fields=["cancelled_by", "cancelled_at"])
    audit_record(
        actor=actor,
        action=PayoutsAudit.RUN_CANCELLED,
        obj=run,
        after={
            "state": run.state,
            "claims": {
                str(claim_id): [state, approved_on and approved_on.isoformat()]
                for _pk, claim_id, state, approved_on in payout_claims
            },
        },
        region=run.region_id,
    )
    return run


# Set-off and repayments -------------------------------------------------------------------------------------


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
    repayment = Repayment.objects.select_for_update().select_related("credit_invoice").get(pk=repayment.pk)
    if repayment.received_on is not None:
        return repayment
    credited_on = timezone.localdate(repayment.credit_invoice.created_at)
    if received_on < credited_on:
        raise ValidationError(
            {
                "received_on": _("Mottagen den kan inte vara före kreditfakturans datum %(date)s.")
                % {"date": credited_on.isoformat()}
            },
            code="before_credit",
        )
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
    # A run whose file was never downloaded was never paid by the bank: it waits (or is cancelled).
    due = PayoutRun.objects.filter(
        state=PayoutRunState.PLANNED, payout_date__lt=today, file_downloaded_at__isnull=False
    ).order_by("payout_date", "pk")
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
    # Each clinic of the run is told that its payment (its utbetalningsbesked) is paid out.
    clinic_events_record(
        NewClinicEvent(
            clinic_id=payment.clinic_id,
            kind=ClinicEventKind.PAYOUT_MADE,
            object_type="payout_payment",
            object_id=payment.pk,
            data={
                "payout_run_id": run.pk,
                "payout_date": run.payout_date.isoformat(),
                "gross": payment.gross,
                "set_off": payment.set_off,
                "net": payment.net,
            },
        )
        for payment in run.payments.order_by("pk")
    )
    audit_record(
        actor=None,
        action=PayoutsAudit.RUN_PAID,
        obj=run,
        after={"state": run.state, "claims": marked},
        region=run.region_id,
    )
    return marked
