"""Background work for claims: checking uploaded invoice files and sending their correct claims."""

import logging

from celery import Task, shared_task
from django.db import OperationalError

logger = logging.getLogger(__name__)

# Seconds before the first retry; doubled for each further one, up to RETRY_MAX_SECONDS.
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 300
# How long a file waits before it asks again for its clinic's turn (one file per clinic is checked at a time).
CLINIC_TURN_WAIT_SECONDS = 5


class InvoiceFileWorkerLost(Exception):
    """The worker checking or sending the file was lost before it finished: killed, or out of memory."""


def _retry_if_redelivered(task: Task, upload_id: int) -> None:
    """The broker hands a message out again when the worker that had it died with it (or was stopped before it
    began, which costs a try too). Count that as a failed try: a file that kills every worker that takes it
    fails after the retry limit, and the user sees so, instead of going from worker to worker for ever."""
    if task.request.delivery_info and task.request.delivery_info.get("redelivered"):
        lost = InvoiceFileWorkerLost(f"the worker with invoice file {upload_id} ({task.name}) was lost")
        raise task.retry(exc=lost, countdown=0)


class _InvoiceFileTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Also after the last retry: the file's page must end, never wait for a worker that has given up.
        from .invoice_file_services import invoice_file_fail

        upload_id = kwargs.get("upload_id", args[0] if args else None)
        logger.error("invoice file %s could not be checked: %r", upload_id, exc)
        try:
            invoice_file_fail(upload_id=upload_id)
        except Exception:
            logger.exception("invoice file %s could not be marked failed", upload_id)


# acks_late: the message is acknowledged when the check ends, so a worker killed during the check leaves it
# with the broker, which hands it to another worker after the visibility timeout (CELERY_VISIBILITY_TIMEOUT).
# reject_on_worker_lost: when only the pool process dies (the out-of-memory killer), the worker hands the message
# back at once instead of acknowledging it, which would leave the file "being checked" for ever.
@shared_task(bind=True, base=_InvoiceFileTask, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def check_invoice_file(self, upload_id: int) -> None:
    """Check a stored invoice file. Safe to run twice: each run deletes the fault rows of the one before."""
    from claims.models import InvoiceFileUpload

    from .invoice_file_services import clinic_check_slot, invoice_file_check

    _retry_if_redelivered(self, upload_id)
    upload = InvoiceFileUpload.objects.filter(pk=upload_id).first()
    if upload is None:
        logger.warning("invoice file %s is gone; nothing checked", upload_id)
        return
    try:
        with clinic_check_slot(upload.clinic_id) as turn:
            if turn:
                invoice_file_check(upload=upload)
    except OperationalError as error:
        # The database went away (a restart, a failover): check the file again from the start, a little later.
        countdown = min(RETRY_BASE_SECONDS * 2**self.request.retries, RETRY_MAX_SECONDS)
        raise self.retry(exc=error, countdown=countdown) from error
    if not turn:
        # Another file of the clinic is being checked: this one waits behind it, as a new message (not a retry,
        # which would use up the tries meant for faults), and the worker is free for other clinics' files.
        logger.info("invoice file %s waits for the clinic's file being checked", upload_id)
        check_invoice_file.apply_async(kwargs={"upload_id": upload_id}, countdown=CLINIC_TURN_WAIT_SECONDS)


class _SendTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Also after the last retry: the page must say nothing was sent, never wait for ever.
        from .invoice_file_services import invoice_file_send_failed

        upload_id = kwargs.get("upload_id", args[0] if args else None)
        logger.error("invoice file %s could not be sent: %r", upload_id, exc)
        try:
            invoice_file_send_failed(upload_id=upload_id)
        except Exception:
            logger.exception("invoice file %s could not be marked unsent", upload_id)


# Late acknowledged and rejected on a lost worker for the same reasons as the check.
@shared_task(bind=True, base=_SendTask, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def send_invoice_file(self, upload_id: int) -> None:
    """Send a checked file's correct claims. Safe to run twice: all in one transaction, and a sent file is left."""
    from django.core.exceptions import ValidationError

    from claims.models import InvoiceFileUpload

    from .invoice_file_services import invoice_file_send, invoice_file_send_failed

    _retry_if_redelivered(self, upload_id)
    upload = InvoiceFileUpload.objects.filter(pk=upload_id).first()
    if upload is None:
        logger.warning("invoice file %s is gone; nothing sent", upload_id)
        return
    try:
        invoice_file_send(upload=upload)
    except ValidationError as refused:
        invoice_file_send_failed(upload_id=upload_id, message=" ".join(refused.messages))
    except OperationalError as error:
        countdown = min(RETRY_BASE_SECONDS * 2**self.request.retries, RETRY_MAX_SECONDS)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task(acks_late=True)
def invoice_files_queue_waiting() -> int:
    """Beat, every minute: queue the checks that could not be queued while the queue (Redis) was away.
    Safe to run twice: a file queued is no longer marked, and its check is itself safe to run twice."""
    from .invoice_file_services import invoice_files_queue_waiting as queue_waiting

    return queue_waiting()
