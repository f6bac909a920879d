"""The preview computed by a real `celery -A portal worker` process on the real Redis and the test's database, as in
production: its result kept and its page ready, the reads in one snapshot of their own transaction."""

import pytest
from django.urls import reverse

from payouts import preview_services, selectors
from payouts.models import PayoutPreview, PayoutPreviewState
from tests.billing.test_invoice_file_worker_kill import start_worker  # noqa: F401  (the fixture)
from tests.clinics.factories import RegionMembershipFactory
from tests.waiting import wait_until

from .factories import claim, future_bank_day, invoice, payout_world


def test_the_preview_computed_outside_any_transaction_reads_one_snapshot_and_keeps_the_plan(transactional_db):
    """As in a worker (no transaction around the task): the reads run in a REPEATABLE READ, READ ONLY transaction
    of their own, the result is kept in another."""
    pw = payout_world()
    claim(invoice(pw.bankgiro), 10_000)
    claim(invoice(pw.plusgiro), 5_000)
    day = future_bank_day()
    preview = preview_services.payout_preview_start(actor=pw.coordinator, region=pw.region, payout_date=day).preview
    preview = preview_services.payout_preview_make(preview_id=preview.pk)
    plan = selectors.payout_preview(region=pw.region, payout_date=day)
    assert preview.state == PayoutPreviewState.READY
    assert (preview.fingerprint, preview.claim_count, preview.net_total) == (plan.fingerprint, 2, 15_000)
    assert [payment.clinic_id for payment in preview.payments.order_by("position")] == [
        payment.clinic.pk for payment in plan.payments
    ]


@pytest.mark.slow  # a real worker process
def test_a_worker_computes_the_preview_and_its_page_shows_it(transactional_db, celery_queue, start_worker, client):  # noqa: F811
    pw = payout_world()
    RegionMembershipFactory(user=pw.coordinator, region=pw.region)
    claim(invoice(pw.bankgiro), 10_000)
    client.force_login(pw.coordinator)
    day = future_bank_day()
    asked = client.post(
        reverse("payout_run_new", kwargs={"region_code": pw.region.code}), {"payout_date": day.isoformat()}
    )
    preview = PayoutPreview.objects.get(region=pw.region, payout_date=day)
    start_worker()
    wait_until(
        lambda: PayoutPreview.objects.get(pk=preview.pk).state != PayoutPreviewState.MAKING,
        timeout=60,
        what="the worker to compute the preview",
    )
    preview.refresh_from_db()
    assert (preview.state, preview.claim_count, preview.progress_count) == (PayoutPreviewState.READY, 1, 1)
    page = client.get(asked["Location"]).content.decode()
    assert preview.fingerprint in page
    assert "Skapa utbetalningskörning" in page
