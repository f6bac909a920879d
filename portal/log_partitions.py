"""The two logs' months: partitions made ahead, and months past the retention archived to files.

The audit log (`portal_auditevent`) and the access log (`portal_accesslogentry`) are partitioned by UTC month on
`occurred_at` (migration portal 0009): `{table}_pYYYYMM` for each month and `{table}_default` for a row of a
month with no partition yet, so that an insert never fails. `log_partitions_ensure` (beat, daily; `manage.py
logs_partitions`) makes this month's and the coming months' partitions, and a partition for every month that has
rows in the default one, moving them there. It calls a SECURITY DEFINER function of the tables' owner, so the
portal's role (which owns nothing, portal.db_roles) can run it.

`log_partitions_archive` (`manage.py logs_archive`, run by the operator as the tables' owner, never by a request)
takes each month that ended more than `LOG_RETENTION_YEARS` ago, oldest first: detaches it, writes its rows in id
order to `{LOG_ARCHIVE_DIR}/{partition}.csv.gz` (CSV with a header row) with a `.sha256` file beside it
(`sha256sum -c` checks it) and a `.json` manifest, reads the file back, records it as a `LogArchive` and drops the
detached table, all in one transaction. The audit log's hash chain goes on across months as one chain in id order;
once months are archived, `audit_verify` starts from the newest archive's `last_hash` (the hash the first row still
in the table follows), and the archive's file and manifest hold the rows and hashes before it.
"""

from __future__ import annotations

import csv
import datetime
import gzip
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from . import audit_chain
from .models import LogArchive

AUDIT_LOG = "portal_auditevent"
ACCESS_LOG = "portal_accesslogentry"
PARTITIONED_LOGS = (AUDIT_LOG, ACCESS_LOG)

_MONTH_PARTITION = re.compile(r"^(?P<table>.+)_p(?P<year>\d{4})(?P<month>\d{2})$")


class LogArchiveRefused(RuntimeError):
    """A month that cannot be archived without breaking what is left (see the message)."""


@dataclass(frozen=True)
class LogPartition:
    table: str
    name: str
    start: datetime.datetime  # UTC, included
    end: datetime.datetime  # UTC, not included


def month_start(moment: datetime.datetime) -> datetime.datetime:
    """The first instant of `moment`'s UTC month."""
    utc = moment.astimezone(datetime.UTC)
    return datetime.datetime(utc.year, utc.month, 1, tzinfo=datetime.UTC)


def _next_month(start: datetime.datetime) -> datetime.datetime:
    return (start + datetime.timedelta(days=32)).replace(day=1)


def log_partitions_ensure(*, months_ahead: int | None = None) -> int:
    """Make this month's partitions and `months_ahead` more (default LOG_PARTITIONS_AHEAD), and one for each month
    with rows in a default partition; the number made. Safe to run at any time, and twice at once."""
    ahead = settings.LOG_PARTITIONS_AHEAD if months_ahead is None else months_ahead
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT portal_log_partitions_ensure(%s)", [ahead])
        return cursor.fetchone()[0]


def log_partitions(table: str) -> list[LogPartition]:
    """The month partitions attached to `table`, oldest first (not the default one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [table],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = []
    for name in names:
        match = _MONTH_PARTITION.match(name)
        if match and match["table"] == table:
            start = datetime.datetime(int(match["year"]), int(match["month"]), 1, tzinfo=datetime.UTC)
            found.append(LogPartition(table, name, start, _next_month(start)))
    return sorted(found, key=lambda part: part.start)


def log_retention_cutoff(now: datetime.datetime, years: int) -> datetime.datetime:
    """Months that ended at or before this instant are past the retention: this month's start, `years` back."""
    start = month_start(now)
    return start.replace(year=start.year - years)


def log_partitions_due(
    *, now: datetime.datetime | None = None, retention_years: int | None = None
) -> list[LogPartition]:
    """The attached months past the retention, oldest first, per log."""
    years = settings.LOG_RETENTION_YEARS if retention_years is None else retention_years
    cutoff = log_retention_cutoff(now or timezone.now(), years)
    return [part for table in PARTITIONED_LOGS for part in log_partitions(table) if part.end <= cutoff]


def log_partitions_archive(
    *,
    now: datetime.datetime | None = None,
    retention_years: int | None = None,
    directory: Path | None = None,
) -> list[LogArchive]:
    """Archive every month past the retention (see the module); the archives made. Each month in a transaction
    of its own: a failure leaves that month attached and those before it archived."""
    directory = Path(directory or settings.LOG_ARCHIVE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    # Rows of old months waiting in a default partition get their month's partition first, so they go too.
    log_partitions_ensure()
    return [
        log_partition_archive(partition=part, directory=directory)
        for part in log_partitions_due(now=now, retention_years=retention_years)
    ]


def log_partition_archive(*, partition: LogPartition, directory: Path) -> LogArchive:
    """Detach one month, write it to a file, check the file, record it and drop the detached table."""
    table, name = sql.Identifier(partition.table), sql.Identifier(partition.name)
    path = directory / f"{partition.name}.csv.gz"
    with transaction.atomic(), connection.cursor() as cursor:
        # A table with foreign-key checks still pending cannot be dropped: make any now (rows written earlier in
        # the same transaction; none when the command runs).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(table, name))
        cursor.execute(sql.SQL("SELECT count(*), min(id), max(id) FROM {}").format(name))
        rows, first_id, last_id = cursor.fetchone()
        first_prev_hash = last_hash = ""
        if partition.table == AUDIT_LOG:
            first_prev_hash, last_hash = _audit_boundary(cursor, partition, first_id, last_id)
        sha256 = _copy_to_file(cursor, partition, path, rows)
        manifest = {
            "table": partition.table,
            "partition": partition.name,
            "range_start": partition.start.isoformat(),
            "range_end": partition.end.isoformat(),
            "rows": rows,
            "first_id": first_id,
            "last_id": last_id,
            "first_prev_hash": first_prev_hash,
            "last_hash": last_hash,
            "file": path.name,
            "sha256": sha256,
        }
        _write_small(path.with_name(f"{path.name}.sha256"), f"{sha256}  {path.name}\n")
        _write_small(directory / f"{partition.name}.json", json.dumps(manifest, indent=2) + "\n")
        archive = LogArchive.objects.create(
            table=partition.table,
            partition=partition.name,
            range_start=partition.start,
            range_end=partition.end,
            rows=rows,
            first_id=first_id,
            last_id=last_id,
            first_prev_hash=first_prev_hash,
            last_hash=last_hash,
            file_name=path.name,
            sha256=sha256,
        )
        cursor.execute(sql.SQL("DROP TABLE {}").format(name))
    return archive


def audit_archive_boundary() -> str:
    """The hash the audit log's first row still in the table follows: the newest archive's, else the chain's start."""
    newest = LogArchive.objects.filter(table=AUDIT_LOG).order_by("-range_end").first()
    return newest.last_hash if newest is not None else audit_chain.GENESIS


def _audit_boundary(cursor, partition: LogPartition, first_id, last_id) -> tuple[str, str]:
    """The month's first prev_hash and last hash; refused if a row still attached has a lower id than one of the
    month's (the chain would then have a hole in the table)."""
    if first_id is None:
        boundary = audit_archive_boundary()
        return boundary, boundary
    cursor.execute(sql.SQL("SELECT min(id) FROM {}").format(sql.Identifier(AUDIT_LOG)))
    (remaining_first,) = cursor.fetchone()
    if remaining_first is not None and remaining_first < last_id:
        raise LogArchiveRefused(
            f"{partition.name}: händelse #{remaining_first} ligger kvar i tabellen men kommer före månadens sista "
            f"(#{last_id}) i kedjan; arkivera de äldre månaderna först"
        )
    name = sql.Identifier(partition.name)
    cursor.execute(sql.SQL("SELECT prev_hash FROM {} WHERE id = %s").format(name), [first_id])
    (first_prev_hash,) = cursor.fetchone()
    cursor.execute(sql.SQL("SELECT hash FROM {} WHERE id = %s").format(name), [last_id])
    (last_hash,) = cursor.fetchone()
    return first_prev_hash, last_hash


def _copy_to_file(cursor, partition: LogPartition, path: Path, rows: int) -> str:
    """The month's rows as gzipped CSV in id order, written to a temporary name, read back (every row there),
    synced and renamed into place; the file's SHA-256."""
    partial = path.with_name(f"{path.name}.partial")
    copy_sql = sql.SQL("COPY (SELECT * FROM {} ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
        sql.Identifier(partition.name)
    )
    with open(partial, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb") as out, cursor.cursor.copy(copy_sql) as copy:
            for data in copy:
                out.write(data)
        raw.flush()
        os.fsync(raw.fileno())
    digest = hashlib.sha256()
    with open(partial, "rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
    with gzip.open(partial, "rt", encoding="utf-8", newline="") as text:
        written = sum(1 for _row in csv.reader(text)) - 1  # the header
    if written != rows:
        raise LogArchiveRefused(f"{partition.name}: the file holds {written} rows, the month {rows}")
    os.replace(partial, path)
    return digest.hexdigest()


def _write_small(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def archive_rows(path: Path) -> list[dict[str, str]]:
    """The rows of an archive file, as text by column name (for checking an archive, and the tests)."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        return list(csv.DictReader(io.StringIO(text.read())))
