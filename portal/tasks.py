"""Background work of the core: the webhooks' deliveries (portal.webhooks).

After a transaction that wrote a clinic's events commits, each of the clinic's keys with a webhook gets a
dispatch: the key's next events in the feed become deliveries, each sent by its own task and retried with
growing pauses. A beat job dispatches every webhook each minute as well, for events held back by a long
transaction and for a nudge lost with the broker.
"""

import logging

from celery import shared_task
from django.db import OperationalError

from . import log_partitions
from .events import clinic_events_listen
from .webhooks import (
    WEBHOOK_ATTEMPTS,
    webhook_deliveries_make,
    webhook_delivery_attempt,
    webhook_keys_of,
    webhook_pending_ids,
)

logger = logging.getLogger(__name__)

# Held-back events (an older transaction still running) are asked for again this often, this many times; after
# that the minute's sweep takes them.
WAITING_PAUSE_SECONDS = 2
WAITING_ROUNDS = 15


@clinic_events_listen
def webhooks_nudge(clinic_ids: set[int]) -> None:
    """After the commit: the clinics' webhooks dispatch (a nudge lost is sent by the sweep; portal.events logs it)."""
    for key_id in webhook_keys_of(clinic_ids):
        webhook_dispatch.delay(key_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=5, max_retries=5)
def webhook_dispatch(key_id: int, waiting_round: int = 0) -> None:
    """Make the key's deliveries from its feed and send each. Safe to run twice or at once: the key is locked and a
    delivery is made once."""
    dispatched = webhook_deliveries_make(key_id=key_id)
    for delivery_id in dispatched.delivery_ids:
        webhook_deliver.delay(delivery_id)
    if dispatched.more:
        webhook_dispatch.delay(key_id)
    elif dispatched.waiting and waiting_round < WAITING_ROUNDS:
        webhook_dispatch.apply_async((key_id, waiting_round + 1), countdown=WAITING_PAUSE_SECONDS)


@shared_task(bind=True, acks_late=True, max_retries=WEBHOOK_ATTEMPTS + 1)
def webhook_deliver(self, delivery_id: int) -> None:
    """One attempt; the delivery itself counts its attempts, so a redelivered message does not give it more."""
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


@shared_task(acks_late=True)
def webhook_resume(key_id: int) -> None:
    """A webhook saved again (after failing, say): its waiting deliveries are sent, then what the feed holds."""
    for delivery_id in webhook_pending_ids(key_id=key_id):
        webhook_deliver.delay(delivery_id)
    webhook_dispatch.delay(key_id)


@shared_task(acks_late=True)
def webhooks_sweep() -> None:
    """Every webhook that is on dispatches (beat, each minute)."""
    for key_id in webhook_keys_of():
        webhook_dispatch.delay(key_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=60, max_retries=5)
def log_partitions_ensure() -> None:
    """The logs' partitions for this month and the coming ones (beat, daily; portal.log_partitions). Idempotent."""
    made = log_partitions.log_partitions_ensure()
    if made:
        logger.info("log partitions made", extra={"made": made})
