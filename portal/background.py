"""What background work shares: the retry policy of an e-mail task, and when the pages that wait for a task stop
waiting for one that lost its worker."""

import datetime
import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import JsonResponse
from django.utils import timezone

logger = logging.getLogger(__name__)


def stalled_before() -> datetime.datetime:
    """Background work whose last sign of life is older than this has lost its worker for good.

    After the broker's visibility timeout another worker takes an unacknowledged task again; twice that, and
    still nothing moved, no worker is coming.
    """
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return timezone.now() - datetime.timedelta(seconds=2 * timeout)


def progress_response(job, *, finished: bool, processed: int, total: int, **more: int) -> JsonResponse:
    """What static/js/progress.js polls: the job's state and its label, whether the page may stop waiting, and how
    far the job has come (a job's page shows no personal data here)."""
    return JsonResponse(
        {
            "state": job.state,
            "state_label": str(job.get_state_display()),
            "finished": finished,
            "processed": processed,
            "total": total,
            **more,
        }
    )


class ProgressWriter:
    """How far a job has come, for its page (progress.js polls it): columns of the job's row (`progress_count`, and
    any other given) and its last sign of life (`updated_at`), written on a connection of its own, outside the
    job's transaction (which nobody else sees before it ends), and only while the row is still in `state`. A
    failure to write it never stops the job."""

    def __init__(self, model, pk: int, *, state: str):
        self.model = model
        self.pk = pk
        self.state = state
        self.connection = None

    def __call__(self, **columns: int) -> None:
        try:
            if self.connection is None:
                wrapper = connections[DEFAULT_DB_ALIAS]
                self.connection = type(wrapper)(dict(wrapper.settings_dict), alias=DEFAULT_DB_ALIAS)
                with self.connection.cursor() as cursor:
                    # Each write commits at once (others see it) without waiting for its flush to disk: a progress
                    # lost to a crash is written again by the next, and a 100 000-claim run wrote 101 of them, each
                    # a wait for the disk in the middle of the job.
                    cursor.execute("SET synchronous_commit = off")
            assignments = "".join(f"{self.model._meta.get_field(name).column} = %s, " for name in columns)
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {self.model._meta.db_table} SET {assignments}updated_at = now() "  # noqa: S608
                    "WHERE id = %s AND state = %s",
                    [*columns.values(), self.pk, self.state],
                )
        except DatabaseError:
            logger.warning("the progress of %s %s could not be written", self.model.__name__, self.pk, exc_info=True)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


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
