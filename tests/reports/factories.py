"""Claims received at a chosen moment, for the start page's figures."""

import datetime
import zoneinfo

from claims.models import ClaimState, Invoice
from clinics.models import SupportForm
from tests.claims.factories import ClaimFactory, InvoiceFactory

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime.datetime:
    """A moment in Swedish time."""
    return datetime.datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM)


def received_claim(clinic, received_at: datetime.datetime, total: int, support_form=SupportForm.N, state=None):
    """A claim of `total` öre in its own invoice that came in at `received_at` (Inkom)."""
    invoice = InvoiceFactory(clinic=clinic)
    # received_at is set when the invoice is stored (auto_now_add); move it to the moment the test needs.
    Invoice.objects.filter(pk=invoice.pk).update(received_at=received_at)
    state = state or ClaimState.RECEIVED
    return ClaimFactory(
        invoice=invoice,
        support_form=support_form,
        total=total,
        state=state,
        void_reason="Fel klinik." if state == ClaimState.VOIDED else "",
        with_line=False,
    )
