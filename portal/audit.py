"""The two logs every service and view writes: changes (audit) and views of patient data (access).

audit_record(actor=user, action=ClinicsAudit.MEMBERSHIP_REMOVED, obj=membership, before={...})
access_log_record(request=request, personal_identity_number=pin, shown=AccessShown(AccessShownKind.PERSON_SEARCH))

Audit actions come from a registry: each app lists its actions in its `audit.py` as a `TextChoices` enum
(the stored value `app.object.verb`, the label in Swedish through gettext) decorated with
`@audit_actions_register`. The portal imports every app's `audit` module at start-up, so the core names no
domain app, and `audit_record` refuses an action that is not registered: a typo fails at once.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import audit_chain, validators
from .access_shown import AccessShown
from .audit_chain import JsonText
from .bulk import copy_rows, sequence_ids
from .models import AccessLogEntry, AuditEvent, LogArchive


class AuditOutsideTransaction(RuntimeError):
    """An audit record must share the transaction of the change it records."""


# The registry of actions ---------------------------------------------------------------------------------

# Stored value → enum member (whose label is the action's name on screen).
_ACTIONS: dict[str, models.TextChoices] = {}


def audit_actions_register(actions: type[models.TextChoices]) -> type[models.TextChoices]:
    """Class decorator: make the members of an app's action enum valid for `audit_record`.

    All or nothing: an enum with one bad member registers none of them.
    """
    for action in actions:
        if action.count(".") != 2 or not all(action.split(".")):
            raise ImproperlyConfigured(f"audit action {action.value!r} must be namespaced: app.object.verb")
        known = _ACTIONS.get(action.value)
        # The same enum may be registered again (a module imported twice); another enum may not take its values.
        if known is not None and _enum_name(type(known)) != _enum_name(actions):
            raise ImproperlyConfigured(
                f"audit action {action.value!r} is registered twice: {_enum_name(type(known))}, {_enum_name(actions)}"
            )
    _ACTIONS.update((action.value, action) for action in actions)
    return actions


def _enum_name(actions: type) -> str:
    return f"{actions.__module__}.{actions.__qualname__}"


def audit_actions() -> dict[str, models.TextChoices]:
    """Every registered action: stored value → enum member."""
    return dict(_ACTIONS)


def audit_action_label(action: str) -> str:
    """The action's name in the active language; the stored value itself for one no longer registered."""
    known = _ACTIONS.get(action)
    return str(known.label) if known is not None else action


@audit_actions_register
class PortalAudit(models.TextChoices):
    ACCESS_LOG_SEARCHED = "portal.access_log.searched", _("Åtkomstloggen genomsökt")
    SERVICE_WINDOW_SCHEDULED = "portal.service_window.scheduled", _("Servicefönster planerat")
    SERVICE_WINDOW_CANCELLED = "portal.service_window.cancelled", _("Servicefönster inställt")
    SERVICE_WINDOW_ENDED = "portal.service_window.ended", _("Servicefönster avslutat")


@audit_actions_register
class IdentityAudit(models.TextChoices):
    """A person's own account: Mitt konto and two-factor authentication."""

    TWO_FACTOR_ADDED = "portal.two_factor.added", _("Tvåstegsverifiering aktiverad")
    TWO_FACTOR_REMOVED = "portal.two_factor.removed", _("Tvåstegsverifiering borttagen")
    RECOVERY_CODES_RENEWED = "portal.recovery_codes.renewed", _("Nya reservkoder skapade")
    RECOVERY_CODE_USED = "portal.recovery_code.used", _("Reservkod använd vid inloggning")
    ACCOUNT_NAME_CHANGED = "portal.account.name_changed", _("Namn ändrat")
    ACCOUNT_PASSWORD_CHANGED = "portal.account.password_changed", _("Lösenord ändrat")
    ACCOUNT_EMAIL_CHANGED = "portal.account.email_changed", _("E-postadress ändrad")
    ACCOUNT_LANGUAGE_CHANGED = "portal.account.language_changed", _("Språk ändrat")


# Recording -----------------------------------------------------------------------------------------------


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    """The values of `fields` on `obj` in a form the JSON log can hold."""
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime.date | datetime.datetime | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    clinic=None,
    region=None,
) -> AuditEvent:
    """Record a change. Call inside the service's `transaction.atomic()` block, after the change.

    `action` is a member of an app's audit enum (see the module's docstring); any other value is refused.
    """
    _refuse_unless_recordable(action)
    event = _audit_event(actor, action, obj, before, after, clinic, region)
    _chained_insert([event])
    return event


class _Batch:
    __slots__ = ("chain", "events", "linked")

    def __init__(self) -> None:
        self.events: list[AuditEvent | _Record] = []
        self.chain: AuditChainHeld | None = None  # set by audit_batch_link
        self.linked = 0  # how many of the events have their ids and hashes


# The innermost `audit_batch` block being run (its records, in order); None outside one.
_batched: ContextVar[_Batch | None] = ContextVar("audit_batched", default=None)


@contextmanager
def audit_batch():
    """Write the audit records made in the block at its end, in their order, in one go (one turn of the chain's
    lock instead of one per record): the steps of one change (an invoice made, its claim stored) that are audited
    by the functions they call. Records are made, as ever, inside the change's transaction; the block must end in
    it too. Leaving the block by an exception writes nothing: the change is not made either. A block inside
    another joins it."""
    if _batched.get() is not None:
        yield
        return
    batch = _Batch()
    token = _batched.set(batch)
    try:
        yield
    finally:
        _batched.reset(token)
    if not batch.events:
        return
    _refuse_unless_recordable_in_transaction("audit_batch")
    if batch.chain is None:
        _chained_insert(batch.events)
        return
    batch.chain.link(batch.events[batch.linked :])
    _audit_copy(batch.events)


def audit_batch_link(chain: AuditChainHeld) -> None:
    """Inside an `audit_batch`: give the records made so far their ids and hashes now, from `chain` (which the
    caller's transaction holds), not at the block's end; the end links the rest from it too and writes them all.
    For a writer that makes its records while the database runs its other statements (a payout run's chunk, in a
    pipeline): the hashing overlaps the database's work instead of following it."""
    batch = _batched.get()
    if batch is None:
        raise RuntimeError("audit_batch_link: only inside an audit_batch block")
    batch.chain = chain
    chain.link(batch.events[batch.linked :])
    batch.linked = len(batch.events)


class AuditChainHeld:
    """The audit chain held by one writer until its transaction ends (a payout run, a chunk at a time): its lock
    taken once, here, and its tail kept in this process, so that records are linked (`audit_batch_link`) without
    asking the database, from ids the writer reserved ahead (`reserve`, the sequence's ids taken with its own
    statements). While it is held, every record the transaction writes goes through it (an `audit_batch` linked
    by it): the tail kept is the chain's only so. Ids reserved and not used are left as gaps, as a rolled-back
    insert leaves them; the chain is ordered by id, and no other writer takes ids while the lock is held."""

    model = AuditEvent

    def __init__(self) -> None:
        _refuse_unless_recordable_in_transaction("AuditChainHeld")
        with connection.cursor() as cursor:
            self.tail = audit_chain.chain_tail(cursor)
        self._ids: list[int] = []

    def reserve(self, ids: list[int]) -> None:
        """Ids taken from the table's sequence (ascending) for the next records, after those reserved before."""
        self._ids.extend(ids)

    def link(self, events: list[AuditEvent | _Record]) -> None:
        if not events:
            return
        if len(events) > len(self._ids):
            (more,) = sequence_ids((AuditEvent, len(events) - len(self._ids)))
            self._ids.extend(more)
        ids, self._ids = self._ids[: len(events)], self._ids[len(events) :]
        now = timezone.now()  # one moment for the records linked together
        for event, pk in zip(events, ids, strict=True):
            event.id, event.occurred_at = pk, now
        self.tail = audit_chain.chain_link(events, self.tail)


def audit_record_many(
    *,
    actor,
    action: str,
    changes: Iterable[tuple[models.Model, dict | None, dict | None]],
    clinic=None,
    region=None,
) -> int:
    """Record the same kind of change to many objects (the claims of an invoice file) in one statement.

    `changes` holds (object, before, after) for each. Call inside the change's transaction, as `audit_record`.
    The records are written without a model instance each (a payout run writes 100 000).
    """
    # Checked before the COPY starts: a refusal half-way through it would break the caller's transaction.
    _refuse_unless_recordable(action)
    common = _Record.common(actor, action, clinic, region)
    return _chained_insert([_Record.of(common, obj, before, after) for obj, before, after in changes])


# The columns a record fills besides its id, in copy_rows' order (AuditEvent's fields).
_COLUMNS = (*(name for name in audit_chain.HASHED_FIELDS if name != "id"), "prev_hash", "hash")
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


class _Record:
    """An audit record on its way to the table (AuditEvent's columns, as attributes): what `audit_record_many`
    makes for each object instead of an AuditEvent instance, which costs ten times as much to make."""

    __slots__ = ("id", *_COLUMNS)

    @staticmethod
    def common(actor, action, clinic, region) -> tuple:
        """What every record of one call shares: (actor_id, actor_email, action, clinic_id, region_id)."""
        user = actor if getattr(actor, "is_authenticated", False) else None
        return (
            user.pk if user else None,
            user.email if user else "",
            _ACTIONS[action].value,
            getattr(clinic, "pk", clinic),
            getattr(region, "pk", region),
        )

    @classmethod
    def of(cls, common: tuple, obj: models.Model, before: dict | None, after: dict | None) -> _Record:
        record = cls.__new__(cls)
        record.actor_id, record.actor_email, record.action, record.clinic_id, record.region_id = common
        record.object_type = obj._meta.label_lower
        record.object_id = str(obj.pk)
        # As _audit_event: the personnummer masked, before cutting.
        record.object_repr = validators.mask_personal_identity_numbers_in(str(obj))[:200]
        # Encoded once, as the hash reads them and the table keeps them (audit_chain.JsonText).
        record.before = audit_chain.json_text(_masked(before or {}))
        record.after = audit_chain.json_text(_masked(after or {}))
        return record


def _chained_insert(events: list[AuditEvent | _Record]) -> int:
    """Write `events` at the end of the hash chain, holding its lock until the transaction ends.

    Under the lock the events get their ids and time, then each its `prev_hash` and `hash` (portal.audit_chain).
    """
    if not events:
        return 0
    if (batch := _batched.get()) is not None:
        batch.events.extend(events)
        return len(events)
    with connection.cursor() as cursor:
        tail, ids = audit_chain.chain_tail_and_ids(cursor, len(events))
    now = timezone.now()  # one moment for the whole statement, as one INSERT would have
    for event, pk in zip(events, ids, strict=True):
        event.id, event.occurred_at = pk, now
    audit_chain.chain_link(events, tail)
    return _audit_copy(events)


def _audit_copy(events: list[AuditEvent | _Record]) -> int:
    """COPY `events`, linked (ids, moments and hashes given), into the audit log."""
    json_text = _JSON_TEXT
    count = copy_rows(
        AuditEvent,
        ("id", *_COLUMNS),
        (
            (
                event.id,
                event.occurred_at,
                event.actor_id,
                event.actor_email,
                event.action,
                event.object_type,
                event.object_id,
                event.object_repr,
                event.clinic_id,
                event.region_id,
                event.before if type(event.before) is JsonText else json_text(event.before),
                event.after if type(event.after) is JsonText else json_text(event.after),
                event.prev_hash,
                event.hash,
            )
            for event in events
        ),
    )
    for event in events:
        if isinstance(event, AuditEvent):
            event._state.adding, event._state.db = False, connection.alias
    return count


def audit_chain_verify() -> audit_chain.ChainReport:
    """Recompute the audit log's hash chain from the first row in the table (every monthly partition attached, in
    id order); the first row that does not fit, if any. The first row follows the chain's start or, once months
    are archived (portal.log_partitions), the newest archive's last hash."""
    rows = AuditEvent.objects.order_by("id").values(*audit_chain.HASHED_FIELDS, "prev_hash", "hash")
    newest = LogArchive.objects.filter(table=AuditEvent._meta.db_table).order_by("-range_end").first()
    start = newest.last_hash if newest is not None else audit_chain.GENESIS
    return audit_chain.chain_verify(rows.iterator(chunk_size=5000), start)


def _refuse_unless_recordable(action: str) -> None:
    _refuse_unless_recordable_in_transaction(action)
    if action not in _ACTIONS:
        raise ValueError(f"audit action {action!r} is not registered: add it to the app's audit.py enum")


def _refuse_unless_recordable_in_transaction(what: str) -> None:
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(f"{what}: audit_record must run inside the change's transaction")


def _audit_event(actor, action, obj, before, after, clinic, region) -> AuditEvent:
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent(
        actor_id=user.pk if user else None,
        actor_email=user.email if user else "",
        action=_ACTIONS[action].value,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        # A patient's str() is the personnummer, and free text (a reason, a question) may hold one: the log keeps
        # the birth date only. Masked before cutting, so that no cut-off number escapes the pattern.
        object_repr=validators.mask_personal_identity_numbers_in(str(obj))[:200],
        clinic_id=getattr(clinic, "pk", clinic),
        region_id=getattr(region, "pk", region),
        before=_masked(before or {}),
        after=_masked(after or {}),
    )


def _masked(value: Any) -> Any:
    """`value` (a record's before or after data) with every personnummer in its texts masked."""
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


# The texts of records repeat (a payout date in 100 000 claims' records): each masked once.
_mask = functools.lru_cache(maxsize=4096)(validators.mask_personal_identity_numbers_in)


def access_log_record(*, request, personal_identity_number: str, shown: AccessShown | str) -> AccessLogEntry:
    """Record that the requesting user was shown a patient's data.

    The clinic or region comes from the request, as set by `portal.access` for the current view.
    """
    return access_log_record_many(request=request, personal_identity_numbers=[personal_identity_number], shown=shown)[0]


def access_log_record_many(
    *, request, personal_identity_numbers, shown: AccessShown | str, clinic=None
) -> list[AccessLogEntry]:
    """One entry per patient shown on a page (a list of claims, say), written in one statement. `shown` is an
    AccessShown (a kind and its values, said in each reader's language); plain words stay as written.

    `clinic` names the clinic whose data it is when the page is not one clinic's (an umbrella organisation's)."""
    if isinstance(shown, AccessShown):
        kind, params, words = shown.kind.value, shown.params, shown.swedish()
    else:
        kind, params, words = "", {}, shown
    clinic = clinic or getattr(request, "clinic", None)
    region = getattr(request, "region", None) or (clinic.region if clinic else None)
    if region is None:
        raise ValueError("patient data may only be shown inside a clinic or region view")
    membership = getattr(request, "membership", None)
    return AccessLogEntry.objects.bulk_create(
        AccessLogEntry(
            user=request.user,
            role=getattr(membership, "role", ""),
            clinic=clinic,
            region=region,
            personal_identity_number=pin,
            shown=words[:200],
            shown_kind=kind,
            shown_params=params,
            path=request.path[:300],
        )
        for pin in sorted(set(personal_identity_numbers))
    )
