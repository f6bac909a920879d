"""Background work for eligibility: notices to clinics, the daily write-off, certificate imports."""

import logging
import smtplib

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=30, max_retries=5, acks_late=True)
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
