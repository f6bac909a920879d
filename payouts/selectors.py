"""Reads for payouts: a region's runs and repayments, one run in detail, the next run for the dashboard, and a
kept preview a page at a time."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, F, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from claims.models import Claim, CreditInvoice
from clinics.models import Clinic, Region

from .models import (
    LIVE_RUN_STATES,
    PayoutInvoice,
    PayoutPayment,
    PayoutPreview,
    PayoutPreviewPayment,
    PayoutPreviewState,
    PayoutRun,
    PayoutRunState,
    Repayment,
    SetOff,
)
from .plan import LeftOut, RunPlan, run_plan


def payout_preview(*, region: Region, payout_date: datetime.date) -> RunPlan:
    """Förhandsgranskning: the run for the date as confirming it now would make it (the run's own calculation)."""
    return run_plan(region=region, payout_date=payout_date)


def region_live_run(*, region: Region, payout_date: datetime.date) -> PayoutRun | None:
    """The region's run for the date that is not cancelled, if any."""
    return PayoutRun.objects.of_region(region).filter(payout_date=payout_date, state__in=LIVE_RUN_STATES).first()


def region_runs(*, region: Region) -> QuerySet[PayoutRun]:
    """The region's runs, latest payout date first."""
    return (
        PayoutRun.objects.of_region(region)
        .select_related("created_by")
        .annotate(payment_count=Count("payments"))
        .order_by("-payout_date", "-pk")
    )


def region_run(*, region: Region, run_pk: int) -> PayoutRun | None:
    """One of the region's runs (None for another region's); its payments are paged (run_payments)."""
    return (
        PayoutRun.objects.of_region(region)
        .filter(pk=run_pk)
        .select_related("region", "created_by", "confirmed_by", "file_downloaded_by", "cancelled_by")
        .first()
    )


def run_payments(*, run: PayoutRun) -> QuerySet[PayoutPayment]:
    """The run's payments by clinic number, for a page of them, each with its set-offs; their invoices are read for
    the page by run_page_invoices."""
    set_offs = SetOff.objects.select_related("credit_invoice__invoice")
    return (
        PayoutPayment.objects.of_region(run.region_id)
        .filter(run=run)
        .select_related("clinic")
        .prefetch_related(Prefetch("set_offs", queryset=set_offs))
        .order_by("clinic__number", "pk")
    )


# The invoices of each clinic shown on the run's page, by Vår referens; the clinic's utbetalningsbesked (PDF,
# Excel) lists them all. A clinic of a large run has a hundred: the page stays the same size however large the run.
RUN_INVOICES_SHOWN = 10


def run_page_invoices(*, run: PayoutRun, payments: Iterable[PayoutPayment]) -> None:
    """For a page of the run's payments: `invoice_rows` (the first RUN_INVOICES_SHOWN invoices of each, as plain
    values: Vår referens, the invoice's reference, amount and its claims as counted when the run was made, never
    read) and `invoice_count`, in one statement whatever the run's size."""
    payments = list(payments)
    rows = (
        PayoutInvoice.objects.of_region(run.region_id)
        .filter(payment__in=[payment.pk for payment in payments])
        .annotate(
            position=Window(RowNumber(), partition_by=[F("payment_id")], order_by=[F("our_reference").asc()]),
            invoice_count=Window(Count("id"), partition_by=[F("payment_id")]),
        )
        .filter(position__lte=RUN_INVOICES_SHOWN)
        .order_by("payment_id", "position")
        .values("pk", "payment_id", "our_reference", "amount", "claim_count", "invoice__reference", "invoice_count")
    )
    of_payment: dict[int, list[dict]] = {}
    for row in rows:
        of_payment.setdefault(row["payment_id"], []).append(row)
    for payment in payments:
        payment.invoice_rows = of_payment.get(payment.pk, [])
        payment.invoice_count = payment.invoice_rows[0]["invoice_count"] if payment.invoice_rows else 0


def region_payment(*, region: Region, run_pk: int, payment_pk: int) -> PayoutPayment | None:
    return (
        PayoutPayment.objects.of_region(region)
        .filter(run_id=run_pk, pk=payment_pk)
        .select_related("clinic", "run__region")
        .first()
    )


def clinic_payments(*, clinic: Clinic) -> QuerySet[PayoutPayment]:
    """The clinic's payouts, newest payout date first. Only runs sent to the bank (their file downloaded, so never
    cancelled): a run not yet sent may still be undone. A page of them gets its invoices' references from
    `with_invoice_references`."""
    return (
        PayoutPayment.objects.of_clinic(clinic)
        .filter(run__file_downloaded_at__isnull=False)
        .select_related("run")
        .order_by("-run__payout_date", "-pk")
    )


def with_invoice_references(payments: list[PayoutPayment]) -> list[PayoutPayment]:
    """Each payment with `invoice_references`: its invoices' Vår referens and OCR/Fakturanummer as the list of
    payouts shows them ("518148 (1234), 518149 (1235)"), by Vår referens. One query of values for the page: a
    payment of a large clinic holds a hundred invoices or more, and a model instance of each (and of its invoice)
    cost a page of 25 payments ~900 of each."""
    references: dict[int, list[str]] = {payment.pk: [] for payment in payments}
    rows = (
        PayoutInvoice.objects.of_clinics({payment.clinic_id for payment in payments})
        .filter(payment_id__in=list(references))
        .order_by("payment_id", "our_reference", "pk")
        .values_list("payment_id", "our_reference", "invoice__reference")
    )
    for payment_id, our_reference, invoice_reference in rows:
        references[payment_id].append(f"{our_reference} ({invoice_reference})")
    for payment in payments:
        payment.invoice_references = ", ".join(references[payment.pk])
    return payments


def clinic_payment(*, clinic: Clinic, payment_pk: int) -> PayoutPayment | None:
    return (
        PayoutPayment.objects.of_clinic(clinic)
        .filter(pk=payment_pk, run__file_downloaded_at__isnull=False)
        .select_related("clinic", "run__region")
        .first()
    )


def next_payout_run(*, region: Region, today: datetime.date | None = None) -> PayoutRun | None:
    """The region's next run: the earliest planned (or awaiting its second coordinator) whose payout date is
    today or later."""
    today = today or timezone.localdate()
    return (
        PayoutRun.objects.of_region(region)
        .filter(state__in=(PayoutRunState.PLANNED, PayoutRunState.AWAITING_SECOND), payout_date__gte=today)
        .order_by("payout_date", "pk")
        .first()
    )


# A plusgiro clinic pays a credited amount back within this many days of the credit; after that it is overdue.
REPAYMENT_DUE_DAYS = 30


def region_repayments(*, region: Region, received: bool | None = None, overdue: bool = False) -> QuerySet[Repayment]:
    """The repayments plusgiro clinics owe the region (received=False), have paid (True), or all (None); with
    `overdue`, only those owed longer than REPAYMENT_DUE_DAYS (the coordinator's start page counts these)."""
    repayments = Repayment.objects.of_region(region).select_related("clinic", "credit_invoice__invoice", "received_by")
    if received is not None:
        repayments = repayments.filter(received_on__isnull=not received)
    if overdue:
        due = timezone.now() - datetime.timedelta(days=REPAYMENT_DUE_DAYS)
        repayments = repayments.filter(received_on__isnull=True, created_at__lt=due)
    return (
        repayments.order_by("received_on", "created_at", "pk")
        if received is False
        else repayments.order_by("-received_on", "-created_at", "-pk")
    )


# Previews -----------------------------------------------------------------------------------------------------


def region_preview(*, region: Region, preview_pk: int) -> PayoutPreview | None:
    """One of the region's previews (None for another region's)."""
    return PayoutPreview.objects.of_region(region).filter(pk=preview_pk).select_related("region").first()


def region_ready_preview(*, region: Region, payout_date: datetime.date, fingerprint: str) -> PayoutPreview | None:
    """The region's latest computed preview for the date with this fingerprint: what the coordinator confirms."""
    return (
        PayoutPreview.objects.of_region(region)
        .filter(payout_date=payout_date, fingerprint=fingerprint, state=PayoutPreviewState.READY)
        .order_by("-created_at", "-pk")
        .first()
    )


def preview_payments(*, preview: PayoutPreview) -> QuerySet[PayoutPreviewPayment]:
    """The previewed clinics in the run's order (by clinic number), for a page of them."""
    return (
        PayoutPreviewPayment.objects.of_region(preview.region_id)
        .filter(preview=preview)
        .select_related("clinic")
        .only("clinic__number", "clinic__name", *PREVIEW_PAYMENT_FIELDS)
        .order_by("position")
    )


PREVIEW_PAYMENT_FIELDS = (
    "id",
    "preview_id",
    "clinic_id",
    "position",
    "payment_method",
    "account_number",
    "claim_count",
    "gross",
    "set_off",
    "net",
    "set_offs",
    "claims",
)


@dataclass
class PreviewClaim:
    claim: Claim
    amount: int  # as previewed


def preview_page_rows(*, preview: PayoutPreview, payments: Iterable[PayoutPreviewPayment]) -> None:
    """The credit invoices set off and (for a small run) the claims of a page of previewed clinics, each as
    previewed, in two statements: `set_off_rows` [(CreditInvoice, öre)] and `claim_rows` [PreviewClaim]."""
    payments = list(payments)
    credit_ids = {credit_id for payment in payments for credit_id, _amount in payment.set_offs}
    claim_ids = {claim_id for payment in payments for claim_id, _amount in payment.claims}
    credits = (
        CreditInvoice.objects.of_region(preview.region_id).select_related("invoice").in_bulk(credit_ids)
        if credit_ids
        else {}
    )
    claims = (
        Claim.objects.of_region(preview.region_id)
        .select_related("invoice")
        .only("id", "reference", "invoice__reference")
        .in_bulk(claim_ids)
        if claim_ids
        else {}
    )
    for payment in payments:
        payment.set_off_rows = [(credits[pk], amount) for pk, amount in payment.set_offs if pk in credits]
        payment.claim_rows = [PreviewClaim(claims[pk], amount) for pk, amount in payment.claims if pk in claims]


def preview_left_out(*, preview: PayoutPreview) -> list[LeftOut]:
    """The claims the previewed run leaves out (the first kept), with why, in one statement."""
    ids = [claim_id for claim_id, _reason in preview.left_out]
    claims = (
        Claim.objects.of_region(preview.region_id)
        .select_related("invoice", "clinic")
        .only("id", "reference", "total", "approved_on", "invoice__reference", "clinic__number")
        .in_bulk(ids)
    )
    return [LeftOut(claims[pk], reason) for pk, reason in preview.left_out if pk in claims]
