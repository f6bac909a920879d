"""The demo pays as the region does: through payout runs, so that every paid claim belongs to a run and every
run has its payment file and its utbetalningsbesked (portal/demo/payouts.py, invoices.py, history.py)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from claims.models import ClaimEvent
from clinics.models import Region, User
from payouts.models import PayoutRun
from payouts.plan import run_plan
from payouts.services import payout_run_create, payout_run_file_download, payout_run_mark_paid


def demo_run_pay(*, region: Region, coordinator: User, payout_date: datetime.date) -> PayoutRun | None:
    """Pay the region's claims that came in by `payout_date`: a payout run for that day, its payment file sent
    to the bank (which sends the clinics their utbetalningsbesked), marked paid. The run and its events on the
    claims are dated on the payout date, as if the run had been made then. None when the run would pay nothing
    (an earlier run took its claims)."""
    if not run_plan(region=region, payout_date=payout_date).claim_count:
        return None
    started = timezone.now()
    run = payout_run_create(actor=coordinator, region=region, payout_date=payout_date, today=payout_date).run
    payout_run_file_download(actor=coordinator, run=run)
    payout_run_mark_paid(run=run)
    at = timezone.make_aware(datetime.datetime.combine(payout_date, datetime.time(8)))
    ClaimEvent.objects.filter(claim__payout__payout_invoice__payment__run=run, occurred_at__gte=started).update(
        occurred_at=at
    )
    PayoutRun.objects.filter(pk=run.pk).update(created_at=at, file_downloaded_at=at, paid_at=at)
    return run
