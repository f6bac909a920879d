"""Inserting many rows with PostgreSQL's COPY, where bulk_create's per-value work is what a file of claims waits for.

Rows go in as the model instances would through `bulk_create` (defaults, `auto_now_add`, foreign keys by id,
JSON), but nothing comes back: use it for rows whose ids nobody needs at once (claim lines, events, audit
records). Row triggers fire as for INSERT, so the audit log's append-only guard still holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, models


def copy_insert(model: type[models.Model], objs: Iterable[models.Model]) -> int:
    """Insert `objs` (instances of `model`, not saved) in one COPY; the number of rows written."""
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) FROM STDIN"
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields])
            count += 1
    return count
