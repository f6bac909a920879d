"""Background work of notifications: the fan-out from the clinics' event feeds, and each e-mail.

After a transaction that wrote a clinic's events commits, the clinic's fan-out runs (`notifications_fan_out`),
then one e-mail task per notification to mail. A beat job fans out every clinic with events each minute as well,
for events held back by a long transaction and for a nudge lost with the broker.
"""

import datetime
import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from portal.background import email_task
from portal.events import clinic_events_listen
from portal.models import ClinicEvent

from .services import notification_email_send, notifications_fan_out, notifications_to_email

logger = logging.getLogger(__name__)

# Held-back events (an older transaction still running) are asked for again this often, this many times; after
# that the minute's sweep takes them.
WAITING_PAUSE_SECONDS = 2
WAITING_ROUNDS = 15
SWEEP_LOOK_BACK_MINUTES = 10
# An unsent e-mail this old has lost its task (the e-mail task retries for longer, with its backoff: enqueued again,
# it waits on the row lock and finds it sent, or sends it once).
LOST_EMAIL_AFTER_MINUTES = 5


@clinic_events_listen
def notifications_nudge(clinic_ids: set[int]) -> None:
    """After the commit: each clinic's fan-out (a nudge lost is made by the sweep; portal.events logs it)."""
    for clinic_id in sorted(clinic_ids):
        notifications_dispatch.delay(clinic_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, max_retries=5)
def notifications_dispatch(clinic_id: int, waiting_round: int = 0) -> None:
    """Make the clinic's notifications from its feed and mail each. Safe to run twice or at once: the cursor is
    locked and a notification is made once per (recipient, event)."""
    fanned = notifications_fan_out(clinic_id=clinic_id)
    for notification_id in fanned.email_ids:
        notification_email.delay(notification_id)
    if fanned.more:
        notifications_dispatch.delay(clinic_id)
    elif fanned.waiting and waiting_round < WAITING_ROUNDS:
        notifications_dispatch.apply_async((clinic_id, waiting_round + 1), countdown=WAITING_PAUSE_SECONDS)


@email_task
def notification_email(notification_id: int) -> None:
    """One notification's e-mail; sent once however often the task runs (notification_email_send)."""
    notification_email_send(notification_id=notification_id)


@shared_task(acks_late=True)
def notifications_sweep() -> None:
    """Beat, each minute: every clinic with events in the last minutes fans out, and a notification whose e-mail
    task was lost (a fan-out that committed and died before enqueueing it) is mailed. A task that only waits in
    the queue is enqueued again; it sends nothing twice."""
    now = timezone.now()
    since = now - datetime.timedelta(minutes=SWEEP_LOOK_BACK_MINUTES)
    clinic_ids = ClinicEvent.objects.filter(occurred_at__gte=since).values_list("clinic_id", flat=True).distinct()
    for clinic_id in clinic_ids:
        notifications_dispatch.delay(clinic_id)
    lost_before = now - datetime.timedelta(minutes=LOST_EMAIL_AFTER_MINUTES)
    for notification_id in notifications_to_email(
        made_before=lost_before, made_after=since - datetime.timedelta(hours=1)
    ):
        notification_email.delay(notification_id)
