"""The förhandsgranskning of a payout run, computed by a background task and kept (PayoutPreview).

The coordinator asks for it (payout_preview_start), the task computes it (payout_preview_make: payouts.plan's one
calculation, in one snapshot of the database) and its page shows it, a page of clinics at a time; "Skapa
utbetalningskörning" then starts the run with the kept fingerprint, which the run's task checks under lock (a
preview whose claims changed since is refused there, and the run's page says so).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy
from kombu.exceptions import OperationalError as BrokerUnavailable

from clinics.models import Region, User
from portal.background import ProgressWriter

from .models import PAYOUT_PREVIEW_TRANSITIONS, PayoutPreview, PayoutPreviewPayment, PayoutPreviewState
from .plan import left_out_count as plan_left_out_count
from .plan import run_plan
from .services import payout_date_check
from .tasks import make_payout_preview

logger = logging.getLogger(__name__)

PREVIEW_FAILURE_MESSAGE = gettext_lazy(
    "Förhandsgranskningen kunde inte beräknas. Ingenting har ändrats. Försök igen om en stund."
)
# A run of no more than this many claims is previewed with each clinic's claims listed; a larger one with each
# clinic's figures. Of the claims left out, the first LEFT_OUT_SHOWN are kept, with why.
PREVIEW_CLAIMS_SHOWN = 500
LEFT_OUT_SHOWN = 200
# Previews older than this are forgotten when the region asks for a new one: a preview is a moment's picture.
PREVIEW_KEPT_DAYS = 7


@dataclass(frozen=True)
class PayoutPreviewResult:
    preview: PayoutPreview
    created: bool


def _making(region: Region, payout_date: datetime.date) -> PayoutPreview | None:
    return PayoutPreview.objects.filter(region=region, payout_date=payout_date, state=PayoutPreviewState.MAKING).first()


def payout_preview_start(
    *, actor: User, region: Region, payout_date: datetime.date, today: datetime.date | None = None
) -> PayoutPreviewResult:
    """Förhandsgranska: a preview of the region's run for `payout_date` is asked for and computed by the task
    make_payout_preview once this commits. While one is being computed for the region and date, asking again
    (a second click, a second coordinator) finds it; one whose worker was lost for good ends failed first."""
    payout_date_check(payout_date, today=today)
    PayoutPreview.objects.filter(
        region=region, created_at__lt=timezone.now() - datetime.timedelta(days=PREVIEW_KEPT_DAYS)
    ).exclude(state=PayoutPreviewState.MAKING).delete()
    making = _making(region, payout_date)
    if making is not None:
        if not making.is_stalled:
            return PayoutPreviewResult(making, created=False)
        payout_preview_fail(preview_id=making.pk)
    try:
        with transaction.atomic():
            preview = PayoutPreview.objects.create(region=region, payout_date=payout_date, requested_by=actor)
            preview_id = preview.pk
            transaction.on_commit(lambda: _enqueue(preview_id))
    except IntegrityError:
        # Asked twice at once: the database's one-being-computed-per-date decides, and the other finds it.
        making = _making(region, payout_date)
        if making is None:
            raise
        return PayoutPreviewResult(making, created=False)
    return PayoutPreviewResult(preview, created=True)


def _enqueue(preview_id: int) -> None:
    try:
        make_payout_preview.delay(preview_id)
    except BrokerUnavailable:
        # No task will ever compute it: say so rather than show a bar that never moves.
        logger.exception("payout preview %s could not be queued", preview_id)
        payout_preview_fail(preview_id=preview_id)


def payout_preview_fail(*, preview_id: int, message: str | None = None) -> None:
    """The preview could not be computed: it ends failed, saying so; the coordinator asks for a new one."""
    PAYOUT_PREVIEW_TRANSITIONS.update(
        PayoutPreview.objects.filter(pk=preview_id),
        PayoutPreviewState.FAILED,
        sources=[PayoutPreviewState.MAKING],
        failure_message=str(message or PREVIEW_FAILURE_MESSAGE),
        updated_at=timezone.now(),
    )


def payout_preview_make(*, preview_id: int) -> PayoutPreview | None:
    """The task's work: compute the preview asked for by payout_preview_start and keep it. A preview computed
    already, or given up, is left as it is (the task may run twice)."""
    preview = PayoutPreview.objects.select_related("region").filter(pk=preview_id).first()
    if preview is None or preview.state != PayoutPreviewState.MAKING:
        return preview
    region, payout_date = preview.region, preview.payout_date
    progress = ProgressWriter(PayoutPreview, preview.pk, state=PayoutPreviewState.MAKING)
    try:
        own_transaction = not connection.in_atomic_block
        with transaction.atomic():
            if own_transaction:
                # Every read of one moment: the clinics' figures, the claims left out and the fingerprint agree.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            plan = run_plan(region=region, payout_date=payout_date, progress=progress)
            left_out = list(plan.left_out_claims.values_list("pk", "left_out")[:LEFT_OUT_SHOWN])
            left_out_count = len(left_out)
            if left_out_count == LEFT_OUT_SHOWN:
                left_out_count = plan_left_out_count(region=region, payout_date=payout_date)
            claims_of: dict[int, list[list[int]]] = {}
            if plan.claim_count <= PREVIEW_CLAIMS_SHOWN:
                for clinic_id, claim_id, total in plan.paid_claims.values_list("clinic_id", "pk", "total"):
                    claims_of.setdefault(clinic_id, []).append([claim_id, total])
    finally:
        progress.close()
    with transaction.atomic():
        preview = PayoutPreview.objects.select_for_update().get(pk=preview_id)
        if preview.state != PayoutPreviewState.MAKING:
            return preview  # given up (failed) while it was computed: left so
        PayoutPreviewPayment.objects.bulk_create(
            PayoutPreviewPayment(
                preview=preview,
                clinic=payment.clinic,
                position=position,
                payment_method=payment.clinic.payment_method,
                account_number=payment.clinic.account_number,
                claim_count=payment.claim_count,
                gross=payment.gross,
                set_off=payment.set_off,
                net=payment.net,
                set_offs=[[credit.pk, amount] for credit, amount in payment.set_offs],
                claims=claims_of.get(payment.clinic.pk, []),
            )
            for position, payment in enumerate(plan.payments)
        )
        preview.fingerprint = plan.fingerprint
        preview.claim_count = preview.progress_count = plan.claim_count
        preview.gross_total, preview.set_off_total = plan.gross_total, plan.set_off_total
        preview.net_total = plan.net_total
        preview.left_out, preview.left_out_count = [list(row) for row in left_out], left_out_count
        PAYOUT_PREVIEW_TRANSITIONS.move(
            preview,
            PayoutPreviewState.READY,
            fields=[
                "fingerprint",
                "claim_count",
                "progress_count",
                "gross_total",
                "set_off_total",
                "net_total",
                "left_out",
                "left_out_count",
            ],
        )
    return preview
