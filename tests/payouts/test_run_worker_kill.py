"""A worker killed in the middle of making a payout run: real `celery -A portal worker` processes on the real
Redis and the test's database. The run is one transaction: the killed worker leaves nothing of it (no claim
approved, no Vår referens used), and the next worker, given the message again, makes it once: every claim in it
once, each chunk whole.

Where the worker dies must not depend on timing: a trigger holds the run's write of the first claim of its second
chunk (its PayoutClaim) on an advisory lock the test owns, the first chunk written in the run's transaction."""

import time

import pytest
from django.db import connection

from claims.models import Claim, ClaimState
from payouts import services
from payouts.models import PayoutClaim, PayoutInvoice, PayoutRun, PayoutRunState
from payouts.selectors import payout_preview
from tests.billing.test_invoice_file_worker_kill import (
    VISIBILITY_TIMEOUT,
    HeldWrite,
    start_worker,  # noqa: F401  (the fixture)
    unacknowledged,
)
from tests.waiting import wait_until

from .factories import claim, future_bank_day, invoice, payout_world

pytestmark = pytest.mark.slow  # real worker processes, started and killed

INVOICES = 25
PER_INVOICE = 100  # 2 500 claims: the worker dies in the second of three chunks


def _claims(on_invoice) -> None:
    model = claim(on_invoice, 12_345)
    copies = []
    for index in range(PER_INVOICE - 1):
        copy = Claim.objects.get(pk=model.pk)
        copy.pk = None
        copy.reference = f"{model.reference}-{index}"
        copies.append(copy)
    Claim.objects.bulk_create(copies)


def test_a_run_whose_worker_is_killed_is_made_once_by_the_next(transactional_db, celery_queue, start_worker):  # noqa: F811
    pw = payout_world()
    for _ in range(INVOICES):
        _claims(invoice(pw.bankgiro))
    total = INVOICES * PER_INVOICE
    day = future_bank_day()
    preview = payout_preview(region=pw.region, payout_date=day)
    assert preview.claim_count == total > 2 * services.CHUNK_SIZE
    held_id = preview.paid_claims.values_list("pk", flat=True)[services.CHUNK_SIZE]
    held = HeldWrite(table=PayoutClaim._meta.db_table, event="INSERT", condition=f"NEW.claim_id = {held_id}")
    try:
        run = services.payout_run_start(
            actor=pw.coordinator,
            region=pw.region,
            payout_date=day,
            fingerprint=preview.fingerprint,
            expected_count=preview.claim_count,
        ).run  # queued on commit
        first = start_worker()
        held.wait(first, what="the run to be held in its second chunk")
        # The first chunk is written, in the run's transaction; its progress is on the page.
        assert PayoutRun.objects.get(pk=run.pk).progress_count == services.CHUNK_SIZE
        first.kill()
        run.refresh_from_db()
        assert run.state == PayoutRunState.MAKING
        taken = unacknowledged(celery_queue)
        assert len(taken) == 1, "the killed worker's message is unacknowledged"
        taken_at = next(iter(taken.values()))
        wait_until(
            lambda: time.time() > taken_at + VISIBILITY_TIMEOUT, timeout=10, what="the visibility timeout to pass"
        )
    finally:
        held.release()
    # Nothing of the killed worker's run stayed: its transaction never committed.
    assert not PayoutClaim.objects.filter(payout_invoice__payment__run=run).exists()
    assert not Claim.objects.filter(clinic=pw.bankgiro, state=ClaimState.APPROVED).exists()

    second = start_worker()
    made = PayoutRun.objects.filter(pk=run.pk, state=PayoutRunState.PLANNED).exists
    second.wait_for(made, timeout=90, what="the second worker to make the run")
    run.refresh_from_db()
    assert (run.claim_count, run.gross_total, run.net_total) == (total, total * 12_345, total * 12_345)
    paid = list(PayoutClaim.objects.filter(payout_invoice__payment__run=run).values_list("claim_id", flat=True))
    assert len(paid) == len(set(paid)) == total, "every claim in the run once"
    assert Claim.objects.filter(clinic=pw.bankgiro, state=ClaimState.APPROVED, approved_on=day).count() == total
    references = list(PayoutInvoice.objects.filter(payment__run=run).values_list("our_reference", flat=True))
    assert len(references) == len(set(references)) == INVOICES
    # Numbered from the start: the killed worker's numbers were never used.
    assert sorted(references) == [str(services.OUR_REFERENCE_BASE + n) for n in range(1, INVOICES + 1)]
    second.wait_for(lambda: not unacknowledged(celery_queue), timeout=10, what="the message to be acknowledged")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # the test's own session is fine after the workers' sessions end
