"""Background work for clinics: invitation e-mails."""

import logging
import smtplib

from celery import shared_task

from .models import ClinicMembership

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    max_retries=5,
    acks_late=True,
)
def send_invitation(membership_id: int) -> None:
    from . import services

    membership = ClinicMembership.objects.select_related("user", "clinic").filter(pk=membership_id).first()
    if membership is None or not membership.is_active:
        logger.info("invitation for membership %s not sent: no longer active", membership_id)
        return
    services.invitation_send(membership=membership)
