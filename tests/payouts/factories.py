"""Helpers for payout tests: a region of its own with a bankgiro and a plusgiro clinic, claims of given amounts."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from claims.models import Claim, ClaimState, CreditInvoice, Invoice
from clinics.models import Clinic, PaymentMethod, Region, User
from payouts import bankdays
from payouts.preview_services import payout_preview_make, payout_preview_start
from tests.claims.factories import ClaimFactory, InvoiceFactory
from tests.clinics.factories import ClinicFactory, RegionFactory, UserFactory


@dataclass
class PayoutWorld:
    region: Region
    bankgiro: Clinic
    plusgiro: Clinic
    coordinator: User


def payout_world(**region_values) -> PayoutWorld:
    region = RegionFactory(**region_values)
    return PayoutWorld(
        region=region,
        bankgiro=ClinicFactory(region=region, payment_method=PaymentMethod.BANKGIRO),
        plusgiro=ClinicFactory(region=region, payment_method=PaymentMethod.PLUSGIRO, account_number="4123451"),
        coordinator=UserFactory(),
    )


def future_bank_day(days_ahead: int = 14) -> datetime.date:
    """A bank day some days from now: runs refuse past dates and take invoices that came in by the date."""
    return bankdays.bank_day_on_or_after(timezone.localdate() + datetime.timedelta(days=days_ahead))


def invoice(clinic: Clinic, *, received_on: datetime.date | None = None, reference: str | None = None) -> Invoice:
    extra = {"reference": reference} if reference else {}
    made = InvoiceFactory(clinic=clinic, created_by=UserFactory(), **extra)
    if received_on is not None:
        received_at = timezone.make_aware(datetime.datetime.combine(received_on, datetime.time(10)))
        Invoice.objects.filter(pk=made.pk).update(received_at=received_at)
        made.refresh_from_db()
    return made


def claim(on_invoice: Invoice, total: int, state: str = ClaimState.RECEIVED) -> Claim:
    return ClaimFactory(invoice=on_invoice, total=total, state=state, with_line=False)


def credit(on_invoice: Invoice, total: int, reference: str) -> CreditInvoice:
    return CreditInvoice.objects.create(
        clinic=on_invoice.clinic, invoice=on_invoice, reference=reference, total=total, created_by=UserFactory()
    )


def ready_preview(*, region: Region, actor: User, payout_date: datetime.date | None = None):
    """A preview of the region's run, computed here as its task would (payouts.preview_services)."""
    started = payout_preview_start(actor=actor, region=region, payout_date=payout_date or future_bank_day())
    return payout_preview_make(preview_id=started.preview.pk)
