"""Background work for payouts: e-mailing utbetalningsbesked, and the daily marking of paid claims."""

import logging
import smtplib

from celery import shared_task
from django.db import OperationalError

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError, OperationalError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
    acks_late=True,
)
def send_payout_notice(payment_id: int) -> bool:
    """E-mail one clinic's utbetalningsbesked. Safe to run twice: a notice already sent is not sent again."""
    from .models import PayoutPayment
    from .notices import payout_notice_send

    payment = PayoutPayment.objects.filter(pk=payment_id).first()
    if payment is None:
        logger.warning("payout payment %s is gone; no notice sent", payment_id)
        return False
    return payout_notice_send(payment=payment)


@shared_task(acks_late=True)
def mark_payouts_paid(today: str | None = None) -> int:
    """Daily: claims of runs whose payout date has passed (in bank days) become Utbetald. `today` (ISO date)
    is for tests and for catching up by hand; the beat schedule gives none."""
    import datetime

    from .services import payout_runs_mark_paid

    count = payout_runs_mark_paid(today=datetime.date.fromisoformat(today) if today else None)
    logger.info("marked %s claims paid", count)
    return count
