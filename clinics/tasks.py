"""Background work for clinics: invitation e-mails, the notices of a changed account, closing terminated clinics."""

import logging

from celery import shared_task

from portal.background import email_task

from .models import AccountChange, ClinicInvitation, ClinicMembership, InvitationState, RegionMembership

logger = logging.getLogger(__name__)


@email_task
def send_invitation(membership_id: int) -> None:
    from . import services

    membership = ClinicMembership.objects.select_related("user", "clinic").filter(pk=membership_id).first()
    if membership is None or not membership.is_active:
        logger.info("invitation for membership %s not sent: no longer active", membership_id)
        return
    services.invitation_send(membership=membership)


@email_task
def send_clinic_invitation(invitation_id: int) -> None:
    from . import services

    invitation = ClinicInvitation.objects.select_related("user", "clinic").filter(pk=invitation_id).first()
    if invitation is None or invitation.state != InvitationState.PENDING:
        logger.info("invitation %s not sent: no longer pending", invitation_id)
        return
    services.clinic_invitation_send(invitation=invitation)


@email_task
def send_account_change_notice(change_id: int, event: str) -> None:
    """Tell the clinic's other local administrators, its payout address and the region's coordinators."""
    from . import services

    change = AccountChange.objects.select_related("clinic__region", "requested_by", "decided_by").get(pk=change_id)
    services.account_change_notice_send(change=change, event=event)


@shared_task(acks_late=True)
def close_terminated_clinics() -> list[int]:
    """Daily (Celery beat): close every clinic whose notice's slutfakturering has ended; safe to run twice."""
    from . import services

    closed = services.terminations_close_due()
    if closed:
        logger.info("clinics closed after their notice: %s", closed)
    return closed


@email_task
def send_region_invitation(membership_id: int) -> None:
    """Tell a person of their new role in the region (with a set-password link when they have no password)."""
    from . import region_services

    membership = RegionMembership.objects.select_related("user", "region").filter(pk=membership_id).first()
    if membership is None or not membership.is_active:
        logger.info("region invitation for membership %s not sent: no longer active", membership_id)
        return
    region_services.region_invitation_send(membership=membership)
