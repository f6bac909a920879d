"""Payout runs, set-offs, repayments and the daily marking of paid claims; each in one transaction with its audit.

Locks, in this order everywhere: the region's Vår referens counter (which also keeps two runs of one region
apart), then claims, then their invoices, then credit invoices. The claim services lock a claim before its
invoice, so the two never wait for each other in a circle.
"""

from __future__ import annotations

import datetime
import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from kombu.exceptions import OperationalError as BrokerUnavailable

from claims.audit import ClaimsAudit
from claims.models import Claim, ClaimRow, ClaimState, CreditInvoice, Invoice, InvoiceRow
from claims.services import (
    claims_approve_for_payout,
    claims_mark_paid,
    claims_payout_cancel,
    invoice_payout_set,
    invoices_payout_set,
)
from clinics.models import Clinic, PaymentMethod, Region, User
from clinics.rules import region_rules
from portal.audit import AuditChainHeld, audit_batch, audit_batch_link, audit_record, snapshot
from portal.background import ProgressWriter
from portal.bulk import array_text, copy_insert, sequence_ids
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
    CHUNK_SIZE,
    RUN_CLAIM_FIELDS,
    Fingerprint,
    paid_claims,
    pending_credits,  # noqa: F401  (read from here by the tests, as before the plan had its module)
    set_offs_of,
)
from .tasks import make_payout_run, send_payout_notice

logger = logging.getLogger(__name__)

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
FAILURE_MESSAGE = gettext_lazy("Körningen kunde inte skapas. Inga räkningar har ändrats. Försök igen.")


def _live_run(region: Region, payout_date: datetime.date) -> PayoutRun | None:
    return PayoutRun.objects.filter(region=region, payout_date=payout_date, state__in=LIVE_RUN_STATES).first()


def payout_run_start(
    *,
    actor: User,
    region: Region,
    payout_date: datetime.date,
    fingerprint: str,
    expected_count: int = 0,
    today: datetime.date | None = None,
) -> PayoutRunResult:
    """Skapa utbetalningskörning: the run is recorded as being made (it holds its date) and made by the task
    make_payout_run once this commits; its page follows it. Asked twice, or twice at once: one run.

    `fingerprint` is the previewed plan's, `expected_count` its number of claims (the progress bar's end)."""
    payout_date_check(payout_date, today=today)
    existing = _live_run(region, payout_date)
    if existing is not None:
        return PayoutRunResult(existing, created=False)
    try:
        with transaction.atomic():
            run = PayoutRun.objects.create(
                region=region,
                payout_date=payout_date,
                created_by=actor,
                state=PayoutRunState.MAKING,
                fingerprint=fingerprint,
                claim_count=expected_count,
            )
            run_id = run.pk
            transaction.on_commit(lambda: _enqueue(run_id))
    except IntegrityError:
        existing = _live_run(region, payout_date)
        if existing is None:
            raise
        return PayoutRunResult(existing, created=False)
    return PayoutRunResult(run, created=True)


def _enqueue(run_id: int) -> None:
    try:
        make_payout_run.delay(run_id)
    except BrokerUnavailable:
        # No task will ever make it: say so rather than show a bar that never moves.
        logger.exception("payout run %s could not be queued", run_id)
        payout_run_fail(run_id=run_id)


def payout_run_fail(*, run_id: int, message: str | None = None) -> None:
    """The run could not be made (nothing of it was written): it ends failed, with why, and frees its date."""
    PAYOUT_RUN_TRANSITIONS.update(
        PayoutRun.objects.filter(pk=run_id),
        PayoutRunState.FAILED,
        sources=[PayoutRunState.MAKING],
        failure_message=str(message or FAILURE_MESSAGE),
        updated_at=timezone.now(),
    )


def payout_run_make(*, run_id: int) -> PayoutRun | None:
    """The task's work: make the run asked for by payout_run_start, in one transaction (a worker lost half-way
    leaves nothing, and the run is made again from the start by the next). A run made already, or given up, is
    left as it is. When the plan is not the previewed one, or there is nothing to pay, the run ends failed with
    why (the page shows it and the way to a new preview)."""
    run = PayoutRun.objects.select_related("region", "created_by").filter(pk=run_id).first()
    if run is None or run.state != PayoutRunState.MAKING:
        return run
    try:
        with transaction.atomic():
            counter = _lock_counter(run.region)
            # A second delivery of the message waits here for the first; it then finds the run made.
            run = PayoutRun.objects.select_related("region", "created_by").get(pk=run_id)
            if run.state != PayoutRunState.MAKING:
                return run
            _run_fill(run=run, counter=counter, fingerprint=run.fingerprint or None)
    except ValidationError as refused:
        payout_run_fail(run_id=run_id, message=" ".join(refused.messages))
        run.refresh_from_db()
    return run


def payout_run_create(
    *,
    actor: User,
    region: Region,
    payout_date: datetime.date,
    today: datetime.date | None = None,
    fingerprint: str | None = None,
) -> PayoutRunResult:
    """Make the region's run for `payout_date` now, in this process (the task's work without the task: tests,
    the demo, the benchmark), or find the live one already made (twice, or twice at once: one run).

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
            run = PayoutRun.objects.create(
                region=region, payout_date=payout_date, created_by=actor, state=PayoutRunState.MAKING
            )
            _run_fill(run=run, counter=counter, fingerprint=fingerprint)
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


def _lock_all(queryset) -> int:
    """Lock the rows of `queryset` (FOR UPDATE of its own table) in one statement, without reading them into
    memory; how many were locked."""
    sql, params = queryset.order_by().values("pk").select_for_update(of=("self",)).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) AS locked", params)  # noqa: S608 (Django's SQL)
        return cursor.fetchone()[0]


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


class _Progress(ProgressWriter):
    """How far the run has come, for its page (portal.background.ProgressWriter)."""

    def __init__(self, run_id: int):
        super().__init__(PayoutRun, run_id, state=PayoutRunState.MAKING)

    def __call__(self, count: int) -> None:
        super().__call__(progress_count=count)


@dataclass
class _Filling:
    """What the run keeps while its claims stream by: a payment per clinic, sums per clinic, the invoice of the
    last claim (an invoice's claims come together), the fingerprint. Nothing that grows with the claims."""

    run: PayoutRun
    counter: OurReferenceCounter
    clinics: dict[int, Clinic]
    fingerprint: Fingerprint
    payments: dict[int, PayoutPayment] = field(default_factory=dict)
    gross: dict[int, int] = field(default_factory=dict)
    # The PayoutInvoice of the last claim, not written yet: its next claims may come in the next chunk, and it is
    # written once its amount (the sum of its claims) is known.
    open_invoice: PayoutInvoice | None = None
    count: int = 0
    # The audit chain, held from the first chunk's claims and invoices locked to the commit: each chunk's records
    # are linked while the database runs its writes (portal.audit.audit_batch_link).
    chain: AuditChainHeld | None = None


def _run_fill(*, run: PayoutRun, counter: OurReferenceCounter, fingerprint: str | None) -> None:
    """Write the run (being made, in the caller's transaction, the counter locked) from its plan: its claims
    locked and read in one statement (every one locked before the first is read), streamed in the plan's order
    and written CHUNK_SIZE at a time in a fixed number of statements; the set-offs, totals and four eyes at the
    end."""
    region, payout_date = run.region, run.payout_date
    filling = _Filling(
        run=run,
        counter=counter,
        clinics=Clinic.objects.of_region(region).in_bulk(),
        fingerprint=Fingerprint(payout_date),
    )
    progress = _Progress(run.pk)
    try:
        with _run_claims(region, payout_date) as cursor:
            while rows := cursor.fetchmany(CHUNK_SIZE):
                chunk = [ClaimRow(*row[:CLAIM_ROW_WIDTH]) for row in rows]
                # The chunk's audit records (its claims' and invoices', per clinic) written at its end in one turn
                # of the audit chain's lock, not one per clinic.
                with audit_batch():
                    _chunk_write(filling, chunk)
                progress(filling.count)
    finally:
        progress.close()
    if filling.open_invoice is not None:
        copy_insert(PayoutInvoice, [filling.open_invoice], ids=True)
    if not filling.count:
        raise ValidationError(
            {"payout_date": _("Det finns inga räkningar att betala ut. Räkningar under granskning väntar.")},
            code="empty",
        )
    set_offs = set_offs_of(clinics=filling.clinics, gross=filling.gross, lock=True)
    filling.fingerprint.set_offs((clinic_id, set_offs.get(clinic_id, [])) for clinic_id in filling.payments)
    if fingerprint is not None and fingerprint != filling.fingerprint.hexdigest():
        raise ValidationError(
            _(
                "Underlaget har ändrats sedan förhandsgranskningen: räkningar eller belopp är inte längre desamma. "
                "Ingen körning har skapats. Granska den nya förhandsgranskningen och bekräfta igen."
            ),
            code=FINGERPRINT_CHANGED,
        )
    SetOff.objects.bulk_create(
        SetOff(payment=filling.payments[clinic_id], credit_invoice=credit, amount=amount)
        for clinic_id, clinic_set_offs in set_offs.items()
        for credit, amount in clinic_set_offs
    )
    for clinic_id, payment in filling.payments.items():
        payment.gross = filling.gross[clinic_id]
        payment.set_off = sum(amount for _credit, amount in set_offs.get(clinic_id, []))
        payment.net = payment.gross - payment.set_off
    PayoutPayment.objects.bulk_update(filling.payments.values(), ["gross", "set_off", "net"])
    counter.save(update_fields=["last_value"])
    _repayments_register(region=region, actor=run.created_by)

    run.claim_count = run.progress_count = filling.count
    run.gross_total = sum(payment.gross for payment in filling.payments.values())
    run.set_off_total = sum(payment.set_off for payment in filling.payments.values())
    run.net_total = run.gross_total - run.set_off_total
    four_eyes = run.net_total > region_rules(region).payout_second_confirmation_above
    PAYOUT_RUN_TRANSITIONS.move(
        run,
        PayoutRunState.AWAITING_SECOND if four_eyes else PayoutRunState.PLANNED,
        fields=["claim_count", "progress_count", "gross_total", "set_off_total", "net_total"],
    )
    audit_record(
        actor=run.created_by,
        action=PayoutsAudit.RUN_CREATED,
        obj=run,
        after={
            **snapshot(run, ["payout_date", "state", "claim_count", "gross_total", "set_off_total", "net_total"]),
            "fingerprint": filling.fingerprint.hexdigest(),
        },
        region=region,
    )


# The run's claims as rows of ClaimRow.FIELDS, then the plan's order (RUN_ORDER) as the claims' own columns.
CLAIM_ROW_WIDTH = len(ClaimRow.FIELDS)
# Sorting a region's 100 000 claims in memory, not in files on disk (the default 4 MB holds ~30 000); the run's
# transaction only.
RUN_SORT_MEMORY = "64MB"


@contextmanager
def _run_claims(region: Region, payout_date: datetime.date):
    """A server-side cursor over the claims the run pays, as rows (ClaimRow.FIELDS first), in the plan's order.

    Locked FOR UPDATE in one statement, before the first row is read: the lock is taken in a subquery under the
    sort, which reads every row before it gives the first (so the order of locks, claims before invoices, holds
    for the whole run). One statement where a lock and then a read were two passes over the region's claims."""
    claims = (
        paid_claims(region=region, payout_date=payout_date)
        .annotate(invoice_reference=F("invoice__reference"))
        .order_by()
        .values_list(*ClaimRow.FIELDS, "clinic_key", "invoice_reference")
        .select_for_update(of=("self",))
    )
    sql, params = claims.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{RUN_SORT_MEMORY}'")
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({sql}) AS locked ORDER BY clinic_key, invoice_reference, invoice_id, reference, id",  # noqa: S608
            params,
        )
        yield cursor


def _chunk_write(filling: _Filling, chunk: list[ClaimRow]) -> None:
    """One chunk of the run's claims, in a fixed number of statements: the payments of clinics first seen, the
    invoices first seen (locked, numbered), the claims approved for the date, their PayoutClaims, the invoices'
    Vår referens."""
    run, actor, payout_date = filling.run, filling.run.created_by, filling.run.payout_date
    before = [(claim.state, claim.approved_on) for claim in chunk]
    new_payments: list[PayoutPayment] = []
    new_invoice_ids: list[int] = []
    clinics, gross, payments, fingerprint = filling.clinics, filling.gross, filling.payments, filling.fingerprint
    last = filling.open_invoice.invoice_id if filling.open_invoice is not None else None
    for claim in chunk:
        clinic_id = claim.clinic_id
        clinic = clinics[clinic_id]
        fingerprint.claim(clinic, claim.id, claim.total)
        gross[clinic_id] = gross.get(clinic_id, 0) + claim.total
        if clinic_id not in payments:
            payment = PayoutPayment(
                run=run,
                clinic=clinic,
                payment_method=clinic.payment_method,
                account_number=clinic.account_number,
                gross=0,
                set_off=0,
                net=0,
            )
            payments[clinic_id] = payment
            new_payments.append(payment)
        if claim.invoice_id != last:
            new_invoice_ids.append(claim.invoice_id)
            last = claim.invoice_id
    filling.count += len(chunk)

    # Locked after the claims, as everywhere; what they showed before is kept for a cancellation.
    locked = Invoice.objects.select_for_update().filter(pk__in=new_invoice_ids).values_list(*InvoiceRow.FIELDS)
    invoices = {row[0]: InvoiceRow(*row) for row in locked}
    payout_invoices = []
    for invoice_id in new_invoice_ids:
        invoice = invoices[invoice_id]
        filling.counter.last_value += 1
        payout_invoices.append(
            PayoutInvoice(
                payment=filling.payments[invoice.clinic_id],
                invoice_id=invoice_id,
                region=run.region,
                our_reference=str(OUR_REFERENCE_BASE + filling.counter.last_value),
                amount=0,
                previous_our_reference=invoice.our_reference,
                previous_payout_date=invoice.payout_date,
            )
        )
    if filling.chain is None:
        filling.chain = AuditChainHeld()  # its lock after the claims and the first invoices, as ever
    # The new rows' ids, and those of the chunk's audit records (one per claim and per invoice at most), in one
    # statement.
    payment_ids, payout_invoice_ids, audit_ids = sequence_ids(
        (PayoutPayment, len(new_payments)),
        (PayoutInvoice, len(payout_invoices)),
        (AuditChainHeld.model, len(chunk) + len(payout_invoices)),
    )
    for obj, pk in itertools.chain(
        zip(new_payments, payment_ids, strict=True), zip(payout_invoices, payout_invoice_ids, strict=True)
    ):
        obj.pk = pk
    filling.chain.reserve(audit_ids)
    for payout_invoice in payout_invoices:
        payout_invoice.payment_id = payout_invoice.payment.pk  # given its id just now
    if new_payments:
        copy_insert(PayoutPayment, new_payments, ids=True)
    # Each invoice's amount and claim count summed as its claims stream by (an invoice's claims come together);
    # the invoices whose claims have all come are written, the last one with the next chunk or at the end. An
    # UPDATE summing the run's PayoutClaims per invoice at the end cost the database 0.5 s per 100 000 claims.
    open_invoices = [filling.open_invoice, *payout_invoices] if filling.open_invoice else payout_invoices
    paid_by = {payout_invoice.invoice_id: payout_invoice for payout_invoice in open_invoices}
    for claim in chunk:
        paid = paid_by[claim.invoice_id]
        paid.amount += claim.total
        paid.claim_count += 1
    if len(open_invoices) > 1:
        copy_insert(PayoutInvoice, open_invoices[:-1], ids=True)
    filling.open_invoice = open_invoices[-1]

    # The chunk's writes go down in a pipeline (psycopg): none of their results is read, so each is sent as it is
    # made and the database runs them while Python builds the next, and the chunk's audit records; the block's
    # end waits for the last. The run's time was the sum of Python's and the database's, each idle by turns.
    with _pipeline():
        claims_approve_for_payout(actor=actor, claims=chunk, payout_date=payout_date, redate=True)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {PayoutClaim._meta.db_table} "  # noqa: S608 (names of ours)
                "(payout_invoice_id, claim_id, amount, previous_state, previous_approved_on) "
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::date[])",
                [
                    array_text([paid_by[claim.invoice_id].pk for claim in chunk]),
                    array_text([claim.id for claim in chunk]),
                    array_text([claim.total for claim in chunk]),
                    array_text([state for state, _approved_on in before]),
                    array_text([approved_on for _state, approved_on in before]),
                ],
            )
        invoices_payout_set(
            actor=actor,
            invoices=[(invoices[paid.invoice_id], paid.our_reference) for paid in payout_invoices],
            payout_date=payout_date,
        )
        # The records made above hashed now, while the database runs the statements sent; COPYed after.
        audit_batch_link(filling.chain)


@contextmanager
def _pipeline():
    """The statements of the block sent in one pipeline of the connection (psycopg 3): each goes to the database as
    it is made, without waiting for its result; the block's end waits for them all (and raises the first error).
    No statement in it may read a result or COPY."""
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


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
    # were given their Vår referens and payout date when the run was made. All locked in one statement, then
    # streamed and marked CHUNK_SIZE at a time: a fixed number of statements per chunk, memory that stays flat.
    claims = Claim.objects.filter(payout__payout_invoice__payment__run=run, state=ClaimState.APPROVED)
    _lock_all(claims)
    marked = 0
    rows = claims.order_by("pk").values_list(*ClaimRow.FIELDS).iterator(chunk_size=CHUNK_SIZE)
    for chunk in _chunks((ClaimRow(*row) for row in rows), CHUNK_SIZE):
        with audit_batch():
            claims_mark_paid(actor=None, claims=chunk, paid_on=run.payout_date)
        marked += len(chunk)
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
