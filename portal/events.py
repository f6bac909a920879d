"""A clinic's event stream, kept as an outbox: what changed, written in the transaction of the change.

    clinic_event_record(clinic=claim.clinic_id, kind=ClinicEventKind.CLAIM_VOIDED, obj=("claim", claim.pk),
                        data={"state": "voided"}, actor=actor)

Each kind (portal.models.ClinicEventKind) is written by the one service where its change happens: the claims
mover, the question services, the prior-assessment mover, the payout run, the end of an invoice file's check,
a request for a new bankgiro/plusgiro (clinics.services.account_change_request).
`data` holds ids, states, amounts in öre and ISO dates only: never a personnummer, never free text (a question,
a void reason), which a reader fetches from the object itself with its own access rules.

Reading: `clinic_events_after` gives the events of ended transactions only, in (transaction id, id) order, with
a cursor of both. Ids are handed out when a row is inserted, not when its transaction commits: a transaction
that began earlier may commit later with smaller ids, and a reader that had moved past them by id would never
see them. Ordering by id is not enough even with only ended transactions shown: a transaction may take its
transaction id first and insert its event after another's. Every transaction of the database whose id is below
the oldest one still running (portal.db.OldestRunningTransaction) has ended, so no event can appear among
those any more; events of transactions still running, or not yet begun, will all sort after them. The price: an
event waits until every writing transaction that began before it has ended (seconds, for a payout run).

After each transaction that wrote events commits, the listeners registered with `clinic_events_listen` are told
which clinics had events (the webhooks: portal.tasks; the notifications: notifications.tasks).
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, models, transaction
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from . import validators
from .audit import AuditOutsideTransaction
from .bulk import array_text, copy_rows
from .db import OldestRunningTransaction
from .models import ClinicEvent, ClinicEventKind

logger = logging.getLogger(__name__)

# Where each object type is found in /api/v1/ (relative to its root), when the API has a resource for it; a path
# that no view answers (yet) is given as null rather than a dead link.
OBJECT_API_PATHS = {
    "claim": "claims/{id}",
    "prior_assessment": "prior-assessments/{id}",
    "invoice_file": "invoice-files/{id}",
    "payout_payment": "payout-notices/{id}",
}

FEED_LIMIT_DEFAULT = 100
_CURSOR = re.compile(r"([0-9]{1,20})\.([0-9]{1,20})", re.ASCII)
FEED_LIMIT_MAX = 500


@dataclass(frozen=True)
class NewClinicEvent:
    """An event to write with `clinic_events_record`, many at once (a bulk move of claims)."""

    clinic_id: int
    kind: str
    object_type: str
    object_id: int
    data: dict = field(default_factory=dict)
    actor_id: int | None = None


class PersonalDataInEvent(ValueError):
    """An event's data looked like it held a personnummer: events carry ids, states, amounts and dates only."""


# Writing -------------------------------------------------------------------------------------------------------


def clinic_event_record(
    *, clinic, kind: str, obj: tuple[str, int], data: dict | None = None, actor=None
) -> ClinicEvent:
    """Record one event of `clinic` (a Clinic or its id) about `obj` (type, id), inside the change's transaction."""
    _refuse_unless_recordable(kind)
    data = data or {}
    _refuse_personal_data(data)
    user = actor if getattr(actor, "is_authenticated", False) else None
    event = ClinicEvent.objects.create(
        clinic_id=getattr(clinic, "pk", clinic),
        kind=ClinicEventKind(kind).value,
        object_type=obj[0],
        object_id=obj[1],
        data=data,
        actor=user,
    )
    _listeners_tell_on_commit({event.clinic_id})
    return event


def clinic_events_record(events: Iterable[NewClinicEvent]) -> int:
    """Record many events in one COPY (a payout run's 100 000 claims), inside the change's transaction; written as
    rows of values, not ClinicEvent instances (ten times the cost at that size)."""
    now = timezone.now()
    json_text = _JSON_TEXT
    rows = []
    for new in events:
        _refuse_personal_data(new.data)
        rows.append(
            (new.clinic_id, str(new.kind), new.object_type, new.object_id, json_text(new.data), new.actor_id, now)
        )
    if not rows:
        return 0
    for kind in {row[1] for row in rows}:
        _refuse_unless_recordable(kind)
    count = copy_rows(ClinicEvent, _COLUMNS, rows)  # xid: the database's default, the writing transaction's
    _listeners_tell_on_commit({row[0] for row in rows})
    return count


_COLUMNS = ("clinic_id", "kind", "object_type", "object_id", "data", "actor_id", "occurred_at")
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


def clinic_events_record_each(
    *,
    kind: str,
    object_type: str,
    object_ids: Sequence[int],
    clinic_ids: Sequence[int],
    data: dict,
    data_each: dict[str, Sequence[int | str | None]],
    actor_id: int | None = None,
) -> int:
    """One event of the same kind per object (`object_ids`, each of `clinic_ids`), made by the database in one
    INSERT from the id arrays: a payout run's 100 000 claims without a row built in Python. Each event's data is
    `data` with `data_each`'s values for its object (name → one value per object: whole numbers, or texts and
    None), in the objects' order. The statement's result is not read: in a pipeline (payouts.services) it runs
    while the caller goes on."""
    if not object_ids:
        return 0
    _refuse_unless_recordable(kind)
    _refuse_personal_data(data)
    names, arrays, casts = [], [], []
    for name, values in data_each.items():
        numbers = all(value is None or type(value) is int for value in values)
        if not numbers:
            # Texts: each distinct one checked once (a claim's from-state, say), as a row's data would be.
            _refuse_personal_data({str(n): value for n, value in enumerate(set(values)) if isinstance(value, str)})
        names.append(name)
        arrays.append(array_text(values))
        casts.append("bigint[]" if numbers else "text[]")
    columns = [f"v{n}" for n in range(len(names))]
    built = f"jsonb_build_object({', '.join(f'%s::text, {column}' for column in columns)})"
    unnest = ", ".join(["%s::bigint[]", "%s::bigint[]", *(f"%s::{cast}" for cast in casts)])
    sql = (
        f"INSERT INTO {ClinicEvent._meta.db_table} ({', '.join(_COLUMNS)}) "  # noqa: S608 (names of ours)
        f"SELECT clinic_id, %s, %s, object_id, {built} || %s::jsonb, %s, %s "
        f"FROM unnest({unnest}) WITH ORDINALITY AS each_event(clinic_id, object_id, {', '.join([*columns, 'n'])}) "
        "ORDER BY n"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                ClinicEventKind(kind).value,
                object_type,
                *names,
                _JSON_TEXT(data),
                actor_id,
                timezone.now(),
                array_text(clinic_ids),
                array_text(object_ids),
                *arrays,
            ],
        )
    _listeners_tell_on_commit(set(clinic_ids))
    return len(object_ids)


def _refuse_unless_recordable(kind: str) -> None:
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(f"{kind}: a clinic event must be written in the change's transaction")
    if kind not in ClinicEventKind.values:
        raise ValueError(f"clinic event kind {kind!r} is not in portal.models.ClinicEventKind")


def _refuse_personal_data(data: dict) -> None:
    for value in data.values():
        if isinstance(value, str) and validators.mask_personal_identity_numbers_in(value) != value:
            raise PersonalDataInEvent("clinic events carry ids, states, amounts and dates, never a personnummer")
        if isinstance(value, dict | list):
            raise TypeError("clinic event data is flat: ids, states, amounts and dates")


# Listeners (after commit) --------------------------------------------------------------------------------------

_LISTENERS: list[Callable[[set[int]], None]] = []


def clinic_events_listen(listener: Callable[[set[int]], None]) -> Callable[[set[int]], None]:
    """Register `listener(clinic_ids)`, called after a transaction that wrote events of those clinics commits.

    A listener only nudges (enqueues its task): what it would start, its beat sweep starts too. So a listener that
    fails (the broker away) is logged and neither fails the request that committed nor keeps the others from
    being told."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)
    return listener


def _listeners_tell_on_commit(clinic_ids: set[int]) -> None:
    def tell() -> None:
        for listener in list(_LISTENERS):
            try:
                listener(clinic_ids)
            except Exception:
                logger.exception(
                    "%s not told of clinics %s; its sweep will catch up", listener.__name__, sorted(clinic_ids)
                )

    if _LISTENERS:
        transaction.on_commit(tell)


# Reading -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A place in a clinic's feed: after the event `event_id` of the transaction `xid`. As text: "xid.id"."""

    xid: int = 0
    event_id: int = 0

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor written by `str()`; ValueError for anything else."""
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise ValueError(text)
        xid, event_id = int(match[1]), int(match[2])
        if xid >= 2**63 or event_id >= 2**63:
            raise ValueError(text)
        return cls(xid, event_id)

    @classmethod
    def of(cls, event: ClinicEvent) -> Cursor:
        return cls(event.xid, event.pk)

    def __str__(self) -> str:
        return f"{self.xid}.{self.event_id}"


def clinic_events_after(*, clinic, after: Cursor, limit: int = FEED_LIMIT_DEFAULT) -> list[ClinicEvent]:
    """The clinic's next `limit` events after the cursor, of transactions that have ended, in order.

    One index range scan on (clinic, xid, id).
    """
    return list(
        ClinicEvent.objects.of_clinic(clinic)
        .filter(models.Q(xid__gt=after.xid) | models.Q(xid=after.xid, pk__gt=after.event_id))
        .filter(xid__lt=OldestRunningTransaction())
        .order_by("xid", "pk")[:limit]
    )


def clinic_events_waiting(*, clinic, after: Cursor) -> bool:
    """Whether events after the cursor have committed but are held back, because an older transaction still runs."""
    return (
        ClinicEvent.objects.of_clinic(clinic)
        .filter(models.Q(xid__gt=after.xid) | models.Q(xid=after.xid, pk__gt=after.event_id))
        .filter(xid__gte=OldestRunningTransaction())
        .exists()
    )


def clinic_events_end(*, clinic) -> Cursor:
    """The cursor after the clinic's last event so far (a new webhook starts there, not at the beginning)."""
    last = ClinicEvent.objects.of_clinic(clinic).filter(xid__lt=OldestRunningTransaction()).order_by("xid", "pk").last()
    return Cursor.of(last) if last else Cursor()


def api_root() -> str:
    """The path of /api/v1/, from the OpenAPI document's own address."""
    return reverse("api_schema").removesuffix("openapi.json")


def object_api_path(object_type: str, object_id: int, *, root: str | None = None) -> str | None:
    """The object's path in the API, or None when the API has no resource for it."""
    template = OBJECT_API_PATHS.get(object_type)
    if template is None:
        return None
    path = (root or api_root()) + template.format(id=object_id)
    try:
        resolve(path)
    except Resolver404:
        return None
    return path


def clinic_event_json(event: ClinicEvent, *, base_url: str | None = None, root: str | None = None) -> dict:
    """The event as the feed and the webhooks show it. URLs absolute, from `base_url` (the request's host)."""
    path = object_api_path(event.object_type, event.object_id, root=root)
    base = (base_url if base_url is not None else settings.PORTAL_BASE_URL).rstrip("/")
    return {
        "id": event.pk,
        "kind": event.kind,
        "occurred_at": _iso(event.occurred_at),
        "object": {"type": event.object_type, "id": event.object_id, "url": f"{base}{path}" if path else None},
        "data": event.data,
    }


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def clinic_events_json(events: Sequence[ClinicEvent], *, base_url: str | None = None) -> list[dict]:
    root = api_root()
    return [clinic_event_json(event, base_url=base_url, root=root) for event in events]
