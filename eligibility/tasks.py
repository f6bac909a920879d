"""Background work for eligibility: notices to clinics, the daily write-off, certificate imports."""

import logging

from celery import Task, shared_task
from django.db import OperationalError

from portal.background import email_task

logger = logging.getLogger(__name__)


@email_task
def send_prior_assessment_notice(event_id: int) -> None:
    from .models import PriorAssessmentEvent
    from .notices import prior_assessment_notice_send

    event = PriorAssessmentEvent.objects.select_related("assessment__clinic").filter(pk=event_id).first()
    if event is None:
        logger.warning("prior assessment event %s is gone; no notice sent", event_id)
        return
    prior_assessment_notice_send(event=event)


@shared_task(acks_late=True)
def write_off_overdue_prior_assessments() -> int:
    from .services import prior_assessments_write_off_overdue

    count = prior_assessments_write_off_overdue()
    logger.info("wrote off %s prior assessments past their deadline", count)
    return count


class _CertificateImportTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Also after the last retry: the import's page must end, never wait for a worker that has given up.
        from .imports import certificate_import_fail

        import_id = kwargs.get("import_id", args[0] if args else None)
        logger.error("certificate import %s failed: %r", import_id, exc)
        try:
            certificate_import_fail(import_id=import_id)
        except Exception:
            logger.exception("certificate import %s could not be marked failed", import_id)


@shared_task(
    base=_CertificateImportTask,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    retry_backoff_max=300,
    max_retries=3,
)
def import_certificates(import_id: int) -> None:
    """Import a stored certificate file. Safe to run twice: rows are keyed by Intygsnummer in the region."""
    from .imports import certificate_import_run
    from .models import CertificateImport

    certificate_import = CertificateImport.objects.filter(pk=import_id).first()
    if certificate_import is None:
        logger.warning("certificate import %s is gone; nothing imported", import_id)
        return
    certificate_import_run(certificate_import=certificate_import)
