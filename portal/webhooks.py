"""Webhooks per API key, as Standard Webhooks (https://www.standardwebhooks.com/) describes them.

A key's webhook receives the clinic's events (portal.events) as POSTs of the feed's own JSON, with the headers
`webhook-id` (the same on every attempt), `webhook-timestamp` (seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the base64 part of the secret "whsec_…").

Deliveries are made from the clinic's feed, with its cursor (so an event that commits late is never skipped), once
per (key, event); each is tried up to `WEBHOOK_ATTEMPTS` times with growing pauses, each attempt recorded. A
delivery that runs out of attempts marks the webhook failing: nothing more is sent until the administrator saves
it again, and then from where it stopped. Delivery is at least once: a receiver dedupes by `webhook-id`.

The receiver is someone else's server: the address must be https (http to this machine only where
settings.WEBHOOKS_ALLOW_LOCAL, in development and tests), its name must resolve to public addresses only (no
loopback, private, link-local … address: the portal's own network is not the caller's to reach), checked again at
every attempt and connected to by that checked address; redirects are not followed; timeouts are short.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clinics.models import ApiKey, ApiKeyState

from .events import Cursor, clinic_event_json, clinic_events_after, clinic_events_end, clinic_events_waiting
from .models import ClinicEvent, WebhookAttempt, WebhookDelivery, WebhookDeliveryState

SECRET_PREFIX = "whsec_"
# Attempts per delivery, and the pause before each retry (Standard Webhooks suggests growing pauses).
WEBHOOK_ATTEMPTS = 5
RETRY_PAUSES = (10, 60, 300, 1800)
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
# Events turned into deliveries per round; a longer backlog is taken in further rounds.
DISPATCH_BATCH = 500
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


# Secrets and signatures ----------------------------------------------------------------------------------------


def webhook_secret_new() -> str:
    """ "whsec_" and 32 random bytes in base64, as Standard Webhooks' libraries take it."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header's value: "v1," and the base64 HMAC-SHA256 of "id.timestamp.body"."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook_message_id(event: ClinicEvent) -> str:
    """The same for every attempt and every key: the receiver dedupes by it."""
    return f"evt_{event.pk}"


# The receiver's address ----------------------------------------------------------------------------------------


class UnsafeWebhookAddress(ValueError):
    """The webhook's address may not be called: not https, or a name that leads into a private network."""


def _local_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_LOCAL", False))


def webhook_url_clean(url: str) -> str:
    """The address as the administrator may save it, or ValidationError in the form's words (field `webhook_url`)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise ValidationError({"webhook_url": _("Ange en fullständig webbadress som börjar med https://.")}) from None
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise ValidationError({"webhook_url": _("Ange en fullständig webbadress som börjar med https://.")})
    if parts.scheme == "http" and not (_local_allowed() and host in LOCAL_HOSTS):
        raise ValidationError({"webhook_url": _("Webbadressen måste börja med https://.")})
    if len(url) > 500:
        raise ValidationError({"webhook_url": _("Webbadressen får vara högst 500 tecken.")})
    try:
        webhook_addresses(host, parts.port or (443 if parts.scheme == "https" else 80))
    except UnsafeWebhookAddress as unsafe:
        raise ValidationError({"webhook_url": str(unsafe)}) from None
    return url


def webhook_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, refusing a name that resolves to any address that is not public."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeWebhookAddress(_("Namnet i webbadressen finns inte.")) from None
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global and not (_local_allowed() and ip.is_loopback):
            raise UnsafeWebhookAddress(_("Webbadressen leder till ett internt nät och kan inte användas."))
    return addresses


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST once to the checked address `url` names; never a redirect followed, never a long wait."""
    started = time.monotonic()

    def answer(status_code: int | None, error: str = "") -> Answer:
        return Answer(status_code, error[:200], int((time.monotonic() - started) * 1000))

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = webhook_addresses(host, port)[0]
    except UnsafeWebhookAddress as unsafe:
        return answer(None, str(unsafe))
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    # Connected to the address checked above (a name that resolves elsewhere a moment later gains nothing); the
    # certificate is checked against the name.
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, server_hostname=host, assert_hostname=host
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers={**headers, "Host": host_header},
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            response.read(1024, decode_content=False)  # an answer's body is not ours to keep
            response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        return answer(None, type(error).__name__)
    except OSError as error:
        return answer(None, type(error).__name__)
    return answer(response.status)


# Settings ------------------------------------------------------------------------------------------------------


def webhook_cursor_start(*, key: ApiKey) -> None:
    """A webhook set up now starts after the clinic's last event so far: no history is sent."""
    cursor = clinic_events_end(clinic=key.clinic_id)
    key.webhook_cursor_xid, key.webhook_cursor_id = cursor.xid, cursor.event_id


# Deliveries ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispatched:
    delivery_ids: list[int]
    more: bool  # a full batch: more events may follow at once
    waiting: bool  # events committed but held back by an older transaction still running: try again shortly


def webhook_deliveries_make(*, key_id: int) -> Dispatched:
    """Turn the key's next events in the clinic's feed into deliveries (the kinds it chose), moving its cursor.

    Run again, it makes no delivery twice (one per key and event, the database refuses a second).
    """
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(pk=key_id).first()
        if key is None or not webhook_active(key):
            return Dispatched([], more=False, waiting=False)
        cursor = Cursor(key.webhook_cursor_xid, key.webhook_cursor_id)
        events = clinic_events_after(clinic=key.clinic_id, after=cursor, limit=DISPATCH_BATCH)
        kinds = set(key.webhook_kinds)
        wanted = [event for event in events if not kinds or event.kind in kinds]
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(key=key, event=event) for event in wanted], ignore_conflicts=True
        )
        if events:
            end = Cursor.of(events[-1])
            key.webhook_cursor_xid, key.webhook_cursor_id = end.xid, end.event_id
            key.save(update_fields=["webhook_cursor_xid", "webhook_cursor_id"])
            cursor = end
        waiting = len(events) < DISPATCH_BATCH and clinic_events_waiting(clinic=key.clinic_id, after=cursor)
    # Their ids, also of those a run before made (bulk_create gives none back when it may skip rows).
    ids = list(
        WebhookDelivery.objects.filter(
            key_id=key_id, event_id__in=[event.pk for event in wanted], state=WebhookDeliveryState.PENDING
        )
        .order_by("event_id")
        .values_list("pk", flat=True)
    )
    return Dispatched(ids, more=len(events) == DISPATCH_BATCH, waiting=waiting)


def webhook_active(key: ApiKey, now: datetime.datetime | None = None) -> bool:
    return bool(key.webhook_url) and key.webhook_failing_since is None and key.state(now) == ApiKeyState.ACTIVE


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry_in: int | None  # seconds until the next attempt; None: no further attempt


def webhook_delivery_attempt(*, delivery_id: int) -> Outcome:
    """POST the delivery's event once, record the attempt, and say whether and when to try again.

    The last attempt that fails marks the delivery failed and the webhook failing. A delivery already delivered
    or failed (the task run twice) is left.
    """
    delivery = WebhookDelivery.objects.select_related("key", "event").filter(pk=delivery_id).first()
    if delivery is None or delivery.state != WebhookDeliveryState.PENDING:
        return Outcome(delivered=bool(delivery and delivery.state == WebhookDeliveryState.DELIVERED), retry_in=None)
    key = delivery.key
    if not webhook_active(key):
        return Outcome(delivered=False, retry_in=None)  # stays pending: sent when the webhook is saved again
    event = delivery.event
    body = json.dumps(clinic_event_json(event), separators=(",", ":"), ensure_ascii=False).encode()
    message_id = webhook_message_id(event)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tandportal-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            secret=key.webhook_secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
    answer = _post(key.webhook_url, body, headers)
    return _attempt_record(delivery_id=delivery.pk, answer=answer)


@transaction.atomic
def _attempt_record(*, delivery_id: int, answer: Answer) -> Outcome:
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.state != WebhookDeliveryState.PENDING:
        return Outcome(delivered=delivery.state == WebhookDeliveryState.DELIVERED, retry_in=None)
    WebhookAttempt.objects.create(
        delivery=delivery,
        key_id=delivery.key_id,
        status_code=answer.status_code,
        error=answer.error,
        duration_ms=answer.duration_ms,
    )
    delivery.attempts += 1
    if answer.succeeded:
        delivery.state = WebhookDeliveryState.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.save(update_fields=["attempts", "state", "delivered_at"])
        return Outcome(delivered=True, retry_in=None)
    if delivery.attempts < WEBHOOK_ATTEMPTS:
        delivery.save(update_fields=["attempts"])
        return Outcome(delivered=False, retry_in=RETRY_PAUSES[min(delivery.attempts, len(RETRY_PAUSES)) - 1])
    delivery.state = WebhookDeliveryState.FAILED
    delivery.save(update_fields=["attempts", "state"])
    ApiKey.objects.filter(pk=delivery.key_id, webhook_failing_since__isnull=True).update(
        webhook_failing_since=timezone.now()
    )
    return Outcome(delivered=False, retry_in=None)


def webhook_pending_ids(*, key_id: int) -> list[int]:
    """The key's deliveries still waiting (after the webhook was failing, or its worker was lost)."""
    return list(
        WebhookDelivery.objects.filter(key_id=key_id, state=WebhookDeliveryState.PENDING)
        .order_by("event_id")
        .values_list("pk", flat=True)
    )


def webhook_keys_of(clinic_ids: set[int] | None = None) -> list[int]:
    """The keys of these clinics (None: of every clinic) whose webhook is on: set, not failing, key neither revoked
    nor expired."""
    # By id: the default order joins the clinic and region, for an answer that needs neither.
    keys = (
        ApiKey.objects.filter(revoked_at__isnull=True, webhook_failing_since__isnull=True)
        .exclude(webhook_url="")
        .order_by("pk")
    )
    if clinic_ids is not None:
        keys = keys.filter(clinic_id__in=clinic_ids)
    return list(keys.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())).values_list("pk", flat=True))
