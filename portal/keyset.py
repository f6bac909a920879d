"""Keyset paging: a page of a list ordered newest first by (a timestamp, id), found from the last row of the page
before, never by OFFSET, so the thousandth page costs what the first does (with an index on the two columns).

The cursor names the row a page starts after ("a…") or ends before ("b…"): its timestamp in microseconds and its
id. It holds no personal data, so it may stand in a URL; a cursor that does not parse is the first page.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q, QuerySet

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_CURSOR = re.compile(r"(?P<direction>[ab])(?P<micros>-?\d{1,20})_(?P<pk>\d{1,20})")


def _cursor(direction: str, stamp: datetime.datetime, pk: int) -> str:
    return f"{direction}{(stamp - _EPOCH) // datetime.timedelta(microseconds=1)}_{pk}"


@dataclass
class KeysetPage:
    """One page: its rows, the cursors of the pages before and after it ("" when there is none), and how many
    rows the whole list holds (when asked for)."""

    object_list: list
    previous_cursor: str = ""
    next_cursor: str = ""
    count: int | None = None

    @property
    def has_previous(self) -> bool:
        return bool(self.previous_cursor)

    @property
    def has_next(self) -> bool:
        return bool(self.next_cursor)

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next


def keyset_page(
    queryset: QuerySet | Sequence[QuerySet], *, cursor: str | None, size: int, stamp_field: str, count: bool = True
) -> KeysetPage:
    """The page of `queryset` (newest first by `stamp_field`, then id) that `cursor` points to.

    The condition `stamp <= t AND (stamp < t OR id < pk)` lets the database start its index scan at the cursor
    row (the first half is the index condition) and read `size + 1` rows from there.

    `queryset` may be a sequence of disjoint querysets whose union is the list (an organisation's invoices, one
    queryset per clinic): each is read by its own index, `size + 1` rows from the cursor, and the database merges
    them (UNION ALL) and keeps the first `size + 1`, instead of one scan of a global index that reads and throws
    away every other clinic's rows in between.
    """
    parts = _parts(queryset)
    match = _CURSOR.fullmatch(cursor or "")
    total = sum(part.order_by().count() for part in parts) if count else None
    newest_first = (f"-{stamp_field}", "-id")
    if match is None:
        rows = _read(parts, [], newest_first, size + 1)
        page = KeysetPage(object_list=rows[:size], count=total)
        if len(rows) > size:
            page.next_cursor = _cursor("a", getattr(rows[size - 1], stamp_field), rows[size - 1].pk)
        return page
    stamp = _EPOCH + datetime.timedelta(microseconds=int(match["micros"]))
    pk = int(match["pk"])
    if match["direction"] == "a":
        after = [Q(**{f"{stamp_field}__lte": stamp}), Q(**{f"{stamp_field}__lt": stamp}) | Q(pk__lt=pk)]
        rows = _read(parts, after, newest_first, size + 1)
        page = KeysetPage(object_list=rows[:size], count=total)
        if rows:
            page.previous_cursor = _cursor("b", getattr(rows[0], stamp_field), rows[0].pk)
        if len(rows) > size:
            page.next_cursor = _cursor("a", getattr(rows[size - 1], stamp_field), rows[size - 1].pk)
        return page
    before = [Q(**{f"{stamp_field}__gte": stamp}), Q(**{f"{stamp_field}__gt": stamp}) | Q(pk__gt=pk)]
    rows = _read(parts, before, (stamp_field, "id"), size + 1)
    has_previous = len(rows) > size
    rows = list(reversed(rows[:size]))
    page = KeysetPage(object_list=rows, count=total)
    if has_previous:
        page.previous_cursor = _cursor("b", getattr(rows[0], stamp_field), rows[0].pk)
    if rows:
        page.next_cursor = _cursor("a", getattr(rows[-1], stamp_field), rows[-1].pk)
    return page


def _parts(queryset: QuerySet | Sequence[QuerySet]) -> list[QuerySet]:
    return [queryset] if isinstance(queryset, QuerySet) else list(queryset)


def _read(parts: list[QuerySet], conditions: list[Q], order: tuple[str, str], limit: int) -> list:
    """The first `limit` rows in `order` of the parts' union, each part filtered by `conditions` one at a time (as
    separate filters, so the first is the index condition) and limited on its own before the merge."""
    read = []
    for part in parts:
        for condition in conditions:
            part = part.filter(condition)
        read.append(part.order_by(*order)[:limit])
    if not read:
        return []
    if len(read) == 1:
        return list(read[0])
    return list(read[0].union(*read[1:], all=True).order_by(*order)[:limit])


# The ends of a list and its size, for lists that may hold millions of rows --------------------------------------

LAST = "last"  # the cursor of the last page (the oldest rows)
COUNT_CAP = 10_000


def keyset_page_or_last(
    queryset: QuerySet | Sequence[QuerySet], *, cursor: str | None, size: int, stamp_field: str
) -> KeysetPage:
    """`keyset_page` without a count, and the last page for the cursor `LAST`: the oldest `size` rows, read from
    the other end of the same index (oldest first, then turned round), so it costs what the first page does."""
    if cursor != LAST:
        return keyset_page(queryset, cursor=cursor, size=size, stamp_field=stamp_field, count=False)
    rows = _read(_parts(queryset), [], (stamp_field, "id"), size + 1)
    has_previous = len(rows) > size
    rows = list(reversed(rows[:size]))
    page = KeysetPage(object_list=rows)
    if has_previous:
        page.previous_cursor = _cursor("b", getattr(rows[0], stamp_field), rows[0].pk)
    return page


@dataclass(frozen=True)
class CappedCount:
    """How many rows a list holds, counted up to a cap: "fler än 10 000" rather than a scan of a million."""

    count: int
    cap: int

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @property
    def cap_text(self) -> str:
        """The cap as Swedish writes it: "10 000" (a no-break space between the thousands)."""
        return f"{self.cap:,}".replace(",", "\u00a0")


def capped_count(queryset: QuerySet, *, cap: int = COUNT_CAP) -> CappedCount:
    """Count at most `cap + 1` rows (the database stops there): give a queryset without annotations or joins the
    count does not need, since each row read costs them."""
    return CappedCount(count=queryset.order_by()[: cap + 1].count(), cap=cap)
