"""Background work for payouts: computing a payout run's preview, making the run, e-mailing utbetalningsbesked,
and the daily marking of paid claims."""

import logging
import smtplib

from celery import Task, shared_task
from django.db import OperationalError

logger = logging.getLogger(__name__)

# Seconds before the first retry of a run whose database went away; doubled for each further one, up to the max.
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 300


class PayoutRunWorkerLost(Exception):
    """The worker making the run was lost before it finished: killed, or out of memory."""


class PayoutPreviewWorkerLost(Exception):
    """The worker computing the preview was lost before it finished: killed, or out of memory."""


class _JobTask(Task):
    """A task that makes one job (a run, a preview) whose page waits for it: when the task fails, also after its
    last retry, the job is marked failed, so that its page ends and never waits for a worker that has given up."""

    job = ""  # its name in the log
    id_argument = ""

    def mark_failed(self, job_id: int) -> None:
        raise NotImplementedError

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        job_id = kwargs.get(self.id_argument, args[0] if args else None)
        logger.error("%s %s could not be made: %r", self.job, job_id, exc)
        try:
            self.mark_failed(job_id)
        except Exception:
            logger.exception("%s %s could not be marked failed", self.job, job_id)


class _PayoutRunTask(_JobTask):
    job, id_argument = "payout run", "run_id"

    def mark_failed(self, job_id: int) -> None:
        from .services import payout_run_fail

        payout_run_fail(run_id=job_id)


class _PayoutPreviewTask(_JobTask):
    job, id_argument = "payout preview", "preview_id"

    def mark_failed(self, job_id: int) -> None:
        from .preview_services import payout_preview_fail

        payout_preview_fail(preview_id=job_id)


def _make_once(task: Task, make, lost: Exception) -> None:
    """The body of a job's task: a redelivery (the worker before was lost) counts as a try; a database gone away (a
    restart, a failover) rolled the job's transaction back, and it is made again later, with backoff."""
    if task.request.delivery_info and task.request.delivery_info.get("redelivered"):
        raise task.retry(exc=lost, countdown=0)
    try:
        make()
    except OperationalError as error:
        countdown = min(RETRY_BASE_SECONDS * 2**task.request.retries, RETRY_MAX_SECONDS)
        raise task.retry(exc=error, countdown=countdown) from error


# acks_late: the message is acknowledged when the run is made, so a worker killed while making it leaves it with the
# broker, which hands it to another worker after the visibility timeout; the run is one transaction, so the killed
# worker left nothing and the next makes it from the start, once. reject_on_worker_lost: a pool process killed
# (the out-of-memory killer) hands the message back at once. A redelivery counts as a try (billing.tasks does the
# same for invoice files): a run that kills every worker ends failed after the retry limit, and its page says so.
@shared_task(bind=True, base=_PayoutRunTask, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def make_payout_run(self, run_id: int) -> None:
    """Make the payout run asked for (payouts.services.payout_run_start). Safe to run twice: a run made is left."""
    from .services import payout_run_make

    lost = PayoutRunWorkerLost(f"the worker making payout run {run_id} was lost")
    _make_once(self, lambda: payout_run_make(run_id=run_id), lost)


# As make_payout_run: acknowledged late, a redelivery counted as a try, on_failure ends the page. The preview only
# reads until it keeps its result in one short transaction at the end, so a worker lost half-way left nothing and
# the next computes it from the start.
@shared_task(bind=True, base=_PayoutPreviewTask, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def make_payout_preview(self, preview_id: int) -> None:
    """Compute the preview asked for (payouts.preview_services.payout_preview_start). Safe to run twice: a preview
    computed is left."""
    from .preview_services import payout_preview_make

    lost = PayoutPreviewWorkerLost(f"the worker computing payout preview {preview_id} was lost")
    _make_once(self, lambda: payout_preview_make(preview_id=preview_id), lost)


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
