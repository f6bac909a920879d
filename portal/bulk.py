"""Inserting many rows with PostgreSQL's COPY, where bulk_create's per-value work is what a file of claims waits for.

Rows go in as the model instances would through `bulk_create` (defaults, `auto_now_add`, foreign keys by id,
JSON). With `ids=True` each instance first gets its id from the table's sequence, as bulk_create would
return it. Row triggers fire as for INSERT, so the audit log's append-only guard still holds.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models
from django.db.models.fields import NOT_PROVIDED
from django.utils import timezone


def copy_insert(
    model: type[models.Model],
    objs: Iterable[models.Model],
    *,
    ids: bool = False,
    now: datetime.datetime | None = None,
    prepare: Callable[[list[models.Model]], None] | None = None,
) -> int:
    """Insert `objs` (instances of `model`, not saved) in one COPY; the number of rows written.

    With `ids`, the instances are given their ids first where they have none (and count as saved afterwards).
    `now` is the moment stamped into `auto_now_add` fields (default: the time of the call); `prepare` sees the
    instances, ids and stamps set, just before they are written (the audit log chains them there).
    """
    meta = model._meta
    quote = connection.ops.quote_name
    now = now or timezone.now()
    if ids or prepare:
        objs = list(objs)
    if ids:
        ids_assign((model, [obj for obj in objs if obj.pk is None]))
    # A field with only a database default (the writing transaction's id) is left to the database, as INSERT would;
    # one that has a default in Python as well (kept in the database for code that does not know the column yet)
    # is written with the instance's value.
    fields = [
        field
        for field in meta.concrete_fields
        if (ids or not field.primary_key) and (field.db_default is NOT_PROVIDED or field.has_default())
    ]
    sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) FROM STDIN"
    values = [_value_of(field, now) for field in fields]
    if prepare:
        for field in fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                for obj in objs:
                    setattr(obj, field.attname, now)
        prepare(objs)
    count = 0
    # The driver's cursor, for COPY; its errors raised as Django's (an IntegrityError for a unique key, say).
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([value(obj) for value in values])
            count += 1
    if ids:
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias
    return count


def copy_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert `rows` (tuples of database values, in the order of `columns`) into the model's table in one COPY;
    the number written. For the writers of a hundred thousand rows (a payout run's events and audit records),
    where a model instance per row costs more than writing it: the caller gives what the columns hold (ids,
    text, dates, moments, JSON as text), fills every column that has no database default, and no instance is
    made or returned."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(column) for column in columns)}) FROM STDIN"
    count = 0
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        write_row = copy.write_row
        for row in rows:
            write_row(row)
            count += 1
    return count


def ids_assign(*groups: tuple[type[models.Model], list[models.Model]]) -> None:
    """Give the instances of several models, (model, instances) each, their ids from their tables' sequences in
    one statement, in the instances' order; `copy_insert(..., ids=True)` then keeps them."""
    for (_model, objs), pks in zip(groups, sequence_ids(*((model, len(objs)) for model, objs in groups)), strict=True):
        for obj, pk in zip(objs, pks, strict=True):
            obj.pk = pk


def sequence_ids(*wanted: tuple[type[models.Model], int]) -> list[list[int]]:
    """The next ids of several tables' sequences, (model, how many) each, in one statement; each list ascending."""
    asked = [(model, count) for model, count in wanted if count]
    if not asked:
        return [[] for _ in wanted]
    # The sequence looked up once per statement (OFFSET 0 keeps the planner from folding the subquery into the call):
    # pg_get_serial_sequence evaluated per id cost a payout run's 235 000 ids 0.5 s of the database; once, 0.06 s.
    part = (
        "(SELECT array_agg(nextval(seq.name)) FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS name OFFSET 0) "
        "AS seq, generate_series(1, %s))"
    )
    params = [value for model, count in asked for value in (model._meta.db_table, model._meta.pk.column, count)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join([part] * len(asked))}", params)
        row = iter(cursor.fetchone())
    return [sorted(next(row)) if count else [] for _model, count in wanted]


def _value_of(field: models.Field, now) -> Callable[[models.Model], Any]:
    """How to read the field's database value off an instance, doing per row only what the field needs."""
    attname = field.attname
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        # One moment for the whole statement, as one INSERT would have; the instance shows it too.
        def stamped(obj: models.Model) -> Any:
            setattr(obj, attname, now)
            return now

        return stamped
    if isinstance(field, _AS_IS):
        # Text, whole numbers, booleans, dates and foreign-key ids: psycopg writes the Python value as it is.
        return lambda obj: getattr(obj, attname)
    return lambda obj: field.get_db_prep_save(getattr(obj, attname), connection)


# DateTimeField is a DateField; PositiveSmallIntegerField and the like are IntegerFields.
_AS_IS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.DateField,
    models.ForeignKey,
    models.AutoField,
)


def array_text(values: Iterable[Any]) -> str:
    """`values` (whole numbers, texts, dates, None) as the text of a PostgreSQL array, for a parameter cast to an
    array type (`unnest(%s::bigint[])`). psycopg's client-side cursor writes a list's literal element by element in
    Python: a payout run's ten arrays of 1 000 a chunk cost it 1.5 s per 100 000 claims; joined, 0.1 s."""
    values = values if isinstance(values, list) else list(values)
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    return "{" + ",".join(map(_element_text, values)) + "}"


def _element_text(value: Any) -> str:
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"array_text: {type(value).__name__} is not a whole number, text, date or None")
