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
    fails (five times), then reported as failed. It goes to the mail queue (`route_task`)."""
    return shared_task(
        autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=30, max_retries=5, acks_late=True, sends_mail=True
    )(task)


# The queues (settings.CELERY_TASK_QUEUES), each consumed by workers of its own in a deployment that scales out, so
# that a large invoice file never delays an e-mail or a payout: files (invoice files, certificate imports),
# payouts (payout runs and marking them paid), mail (every e-mail), default (the rest: fan-outs, webhooks, sweeps).
QUEUE_DEFAULT = "default"
QUEUE_FILES = "files"
QUEUE_PAYOUTS = "payouts"
QUEUE_MAIL = "mail"
QUEUES = (QUEUE_DEFAULT, QUEUE_FILES, QUEUE_PAYOUTS, QUEUE_MAIL)


def route_task(name, args, kwargs, options, task=None, **extra):
    """The first of settings.CELERY_TASK_ROUTES: every task made with `email_task` goes to the mail queue, whatever
    app it is in; the settings' table then routes the others by name."""
    from celery import current_app

    task = task if task is not None else current_app.tasks.get(name)
    if getattr(task, "sends_mail", False):
        return {"queue": QUEUE_MAIL}
    return None
