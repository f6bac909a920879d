"""Reads for payouts: a region's runs and repayments, one run in detail, and the next run for the dashboard."""

from __future__ import annotations

import datetime

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from clinics.models import Clinic, Region

from .models import (
    LIVE_RUN_STATES,
    PayoutInvoice,
    PayoutPayment,
    PayoutRun,
    PayoutRunState,
    Repayment,
    SetOff,
)
from .plan import RunPlan, run_plan


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
    """The run's payments by clinic number, for a page of them: each with its invoices (their claims counted,
    never read) and set-offs. A page reads its own payments' invoices, not the run's."""
    invoices = (
        PayoutInvoice.objects.select_related("invoice").annotate(claim_count=Count("claims")).order_by("our_reference")
    )
    set_offs = SetOff.objects.select_related("credit_invoice__invoice")
    return (
        PayoutPayment.objects.of_region(run.region_id)
        .filter(run=run)
        .select_related("clinic")
        .prefetch_related(Prefetch("invoices", queryset=invoices), Prefetch("set_offs", queryset=set_offs))
        .order_by("clinic__number", "pk")
    )


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
        PayoutInvoice.objects.filter(payment_id__in=list(references))
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
