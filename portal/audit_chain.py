"""The audit log's hash chain: a change to any row, even by the tables' owner, is found.

Each row carries `prev_hash` (the hash of the row before it, by id) and `hash`: SHA-256 over a canonical JSON of
its own fields and `prev_hash`. Rows are chained under one advisory lock held to the end of the writing
transaction, so concurrent writers take their ids and their place in the chain one after the other.
`audit_chain_verify` (`manage.py audit_verify`) recomputes the chain and names the first row that does not fit:
a changed row fails its own hash, a removed or inserted one breaks the link of the row after it.

The hashing here is pure (no model), so the migration that chains the rows written before uses it too.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The fields a row's hash covers, besides `prev_hash`: all of them but the hashes themselves.
HASHED_FIELDS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_email",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "clinic_id",
    "region_id",
    "before",
    "after",
)
# The first row's `prev_hash`.
GENESIS = "0" * 64
# pg_advisory_xact_lock key held while a transaction appends to the chain ("audit" in ASCII).
CHAIN_LOCK_KEY = 0x6175646974


def audit_event_hash(values: Mapping[str, Any], prev_hash: str) -> str:
    """The hash of a row with these field values following a row whose hash is `prev_hash`: SHA-256 of the JSON
    of its HASHED_FIELDS and `prev_hash`, keys sorted, no spaces, not ASCII-escaped, a moment as its UTC ISO text
    (`canonical_text`)."""
    return hashlib.sha256(canonical_text(values, prev_hash).encode()).hexdigest()


def canonical_text(values: Mapping[str, Any], prev_hash: str) -> str:
    """What the hash covers: the text `json.dumps(fields, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)` gives for the fields (moments as UTC ISO text) and `prev_hash`, written key by key in
    that order (a plain text or whole number as it is, anything else by that JSON encoder): twice as fast."""
    parts = []
    for name, key in _KEYS:
        value = prev_hash if name == "prev_hash" else values[name]
        kind = type(value)
        if kind is str:
            parts.append(key + _string(value))
        elif kind is JsonText:
            parts.append(key + value)
        elif kind is int:
            parts.append(key + int.__repr__(value))
        elif value is None:
            parts.append(key + "null")
        elif isinstance(value, datetime.datetime):
            parts.append(key + _moment_text(value))
        else:
            parts.append(key + _encode(value))
    return "{" + ",".join(parts) + "}"


class JsonText(str):
    """A value's JSON text as `canonical_text` writes it, made once by `json_text`: hashed as it is, and written to the
    table as it is (the log's JSON columns read it as the value). A record's before and after were encoded twice."""

    __slots__ = ()


def json_text(value: Any) -> JsonText:
    return JsonText(_encode(value))


def _moment_text(moment: datetime.datetime) -> str:
    # The database keeps microseconds and the instant, not the zone it was written in. The rows written together
    # share their moment: its text is made once.
    last = _last_moment
    if moment is last[0]:
        return last[1]
    text = _string(moment.astimezone(datetime.UTC).isoformat())
    globals()["_last_moment"] = (moment, text)
    return text


_last_moment: tuple[datetime.datetime | None, str] = (None, "")
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_string = json.encoder.encode_basestring  # a text as that encoder writes it (ensure_ascii=False)
# The keys in sort_keys' order, each with its JSON text.
_KEYS = tuple((name, _string(name) + ":") for name in sorted((*HASHED_FIELDS, "prev_hash")))


# The hash the next row follows is the last row's by id, in whichever month it is. Planning a query over every
# monthly partition costs far more than running it, so `portal_audit_chain_next` (migration portal 0011) reads the
# recent months first, from the start of the previous UTC month, and every month only when it must; it returns the
# tail and the next ids from the table's sequence, taken after the tail is read.
NEXT_QUERY = "SELECT next_id, tail_hash FROM portal_audit_chain_next(%s, %s)"


def _recent_since(now: datetime.datetime) -> datetime.datetime:
    """The start of the previous UTC month: the recent months the tail is looked for in first."""
    utc = now.astimezone(datetime.UTC)
    start = datetime.datetime(utc.year, utc.month, 1, tzinfo=datetime.UTC)
    return (start - datetime.timedelta(days=1)).replace(day=1)


def chain_tail(cursor) -> str:
    """Take the chain's lock (until the transaction ends) and return the hash the next row follows."""
    return chain_tail_and_ids(cursor, 0)[0]


def chain_link(rows: Iterable[Any], prev_hash: str) -> str:
    """Give each row (a model instance with id and fields set, in id order) its prev_hash and hash; the last hash."""
    values_of = operator.attrgetter(*HASHED_FIELDS)
    for row in rows:
        row.prev_hash = prev_hash
        row.hash = prev_hash = audit_event_hash(dict(zip(HASHED_FIELDS, values_of(row), strict=True)), prev_hash)
    return prev_hash


def chain_tail_and_ids(cursor, count: int) -> tuple[str, list[int]]:
    """As `chain_tail`, and the ids of the next `count` rows from the table's sequence (taken under the lock, in
    the statement that reads the tail)."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    cursor.execute(NEXT_QUERY, [count, _recent_since(datetime.datetime.now(datetime.UTC))])
    rows = cursor.fetchall()
    return rows[0][1], sorted(pk for pk, _tail in rows if pk is not None)


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    occurred_at: datetime.datetime
    action: str
    reason: str

    def __str__(self) -> str:
        return f"händelse #{self.event_id} ({self.occurred_at:%Y-%m-%d %H:%M:%S}, {self.action}): {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    rows: int
    first_break: ChainBreak | None
    last_hash: str = GENESIS  # of the last row when the chain is whole: kept outside, it shows a rewritten chain
    first_prev_hash: str = GENESIS  # what the first row followed: not GENESIS once months are archived

    @property
    def whole(self) -> bool:
        return self.first_break is None


def chain_verify(rows: Iterable[Mapping[str, Any]], prev_hash: str = GENESIS) -> ChainReport:
    """Walk rows (dicts of HASHED_FIELDS, prev_hash and hash, in id order) and report the first that does not fit.

    `prev_hash` is what the first row follows: the chain's start, or the boundary of the archived months."""
    expected_prev = prev_hash
    count = 0
    for row in rows:
        count += 1
        reason = ""
        if row["prev_hash"] != expected_prev:
            reason = "länken till raden före stämmer inte (en rad är borttagen, tillagd eller ändrad före denna)"
        elif audit_event_hash(row, row["prev_hash"]) != row["hash"]:
            reason = "radens innehåll stämmer inte med dess hash (raden är ändrad)"
        if reason:
            return ChainReport(count, ChainBreak(row["id"], row["occurred_at"], row["action"], reason))
        expected_prev = row["hash"]
    return ChainReport(count, None, expected_prev, prev_hash)
