"""What background work shares: the retry policy of an e-mail task, and when the pages that wait for a task stop
waiting for one that lost its worker."""

import datetime
import smtplib

from celery import shared_task
from django.conf import settings
from django.utils import timezone


def stalled_before() -> datetime.datetime:
    """Background work whose last sign of life is older than this has lost its worker for good.

    After the broker's visibility timeout another worker takes an unacknowledged task again; twice that, and
    still nothing moved, no worker is coming.
    """
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return timezone.now() - datetime.timedelta(seconds=2 * timeout)


def email_task(task):
    """A Celery task that sends e-mail: acknowledged late, retried with backoff while the mail server or the network
    fails (five times), then reported as failed."""
    return shared_task(autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=30, max_retries=5, acks_late=True)(
        task
    )
