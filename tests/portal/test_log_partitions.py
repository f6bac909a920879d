"""The audit and access logs partitioned by month (portal.log_partitions, migrations portal 0009/0010): rows land
in their month, months are made ahead and for rows that waited in the default partition, every month stays
append-only, the audit chain runs across months, and months past the retention are archived to files."""

import datetime
import gzip
import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from psycopg import sql

from clinics.audit import ClinicsAudit
from portal import tasks
from portal.audit import audit_chain_verify, audit_record
from portal.audit_chain import GENESIS, chain_link, chain_tail_and_ids
from portal.bulk import copy_insert
from portal.log_partitions import (
    ACCESS_LOG,
    AUDIT_LOG,
    LogArchiveRefused,
    archive_rows,
    log_partitions,
    log_partitions_archive,
    log_partitions_ensure,
    month_start,
)
from portal.models import AccessLogEntry, AuditEvent, LogArchive
from tests.clinics.factories import ClinicFactory, UserFactory

PIN = "200001012384"


def _month_name(table: str, moment: datetime.datetime) -> str:
    return f"{table}_p{moment.astimezone(datetime.UTC):%Y%m}"


def _months_later(moment: datetime.datetime, months: int) -> datetime.datetime:
    start = month_start(moment)
    total = start.year * 12 + start.month - 1 + months
    return start.replace(year=total // 12, month=total % 12 + 1)


def _partition_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT tableoid::regclass::text FROM {} WHERE id = %s").format(sql.Identifier(table)), [pk]
        )
        return cursor.fetchone()[0]


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def _audit_at(moment: datetime.datetime, actor, clinic, count: int = 1) -> list[AuditEvent]:
    """Chained audit rows stamped `moment`, written as portal.audit writes them (ids and tail under the lock)."""
    events = [
        AuditEvent(
            actor_id=actor.pk,
            actor_email=actor.email,
            action=ClinicsAudit.CLINIC_UPDATED.value,
            object_type="clinics.clinic",
            object_id=str(clinic.pk),
            clinic_id=clinic.pk,
            after={"n": n, "at": moment.isoformat()},
        )
        for n in range(count)
    ]
    with transaction.atomic():
        with connection.cursor() as cursor:
            tail, ids = chain_tail_and_ids(cursor, count)
        for event, pk in zip(events, ids, strict=True):
            event.pk = pk
        copy_insert(AuditEvent, events, ids=True, now=moment, prepare=lambda rows: chain_link(rows, tail))
    return events


def _access_at(moment: datetime.datetime, user, clinic) -> AccessLogEntry:
    """An access-log row stamped `moment`, by COPY into the partitioned table (as the scale filler writes)."""
    entry = AccessLogEntry(
        user=user, role="", clinic=clinic, region=clinic.region, personal_identity_number=PIN, shown="Sök person"
    )
    copy_insert(AccessLogEntry, [entry], ids=True, now=moment)
    return entry


@pytest.fixture
def people(db):
    log_partitions_ensure()  # as beat has: this month and the next three (a test database may be months old)
    return UserFactory(), ClinicFactory()


def test_a_new_row_of_either_log_lands_in_its_months_partition(people):
    actor, clinic = people
    with transaction.atomic():
        event = audit_record(actor=actor, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": "Ny"})
    entry = AccessLogEntry.objects.create(
        user=actor, role="", clinic=clinic, region=clinic.region, personal_identity_number=PIN, shown="Sök person"
    )
    assert _partition_of(AUDIT_LOG, event.pk) == _month_name(AUDIT_LOG, event.occurred_at)
    assert _partition_of(ACCESS_LOG, entry.pk) == _month_name(ACCESS_LOG, entry.occurred_at)


def test_the_months_ahead_are_made_by_the_command_and_by_the_task(db, settings):
    now = timezone.now()
    settings.LOG_PARTITIONS_AHEAD = 5
    tasks.log_partitions_ensure.apply().get()
    for table in (AUDIT_LOG, ACCESS_LOG):
        months = [part.start for part in log_partitions(table)]
        assert [_months_later(now, n) for n in range(6)] == [m for m in months if m >= month_start(now)]
        assert _exists(f"{table}_default")

    out = io.StringIO()
    call_command("logs_partitions", months_ahead=8, stdout=out)
    assert "6 nya partitioner" in out.getvalue()  # months 6, 7 and 8 of each log
    assert _exists(_month_name(AUDIT_LOG, _months_later(now, 8)))
    assert not _exists(_month_name(AUDIT_LOG, _months_later(now, 9)))
    assert log_partitions_ensure(months_ahead=8) == 0  # made once


def test_a_row_of_a_month_without_a_partition_lands_in_the_default_one_and_moves_to_its_month_later(people):
    actor, clinic = people
    far = _months_later(timezone.now(), 40)
    assert not _exists(_month_name(ACCESS_LOG, far))
    entry = _access_at(far, actor, clinic)
    [event] = _audit_at(far, actor, clinic)
    assert _partition_of(ACCESS_LOG, entry.pk) == f"{ACCESS_LOG}_default"
    assert _partition_of(AUDIT_LOG, event.pk) == f"{AUDIT_LOG}_default"

    log_partitions_ensure()  # the month with rows waiting in the default partition is made, and they move there

    assert _partition_of(ACCESS_LOG, entry.pk) == _month_name(ACCESS_LOG, far)
    assert _partition_of(AUDIT_LOG, event.pk) == _month_name(AUDIT_LOG, far)
    assert AccessLogEntry.objects.values("personal_identity_number", "occurred_at").get(pk=entry.pk) == {
        "personal_identity_number": PIN,
        "occurred_at": far,
    }
    assert audit_chain_verify().whole
    # The default partition is attached again, append-only as before.
    entry = _access_at(_months_later(far, 1), actor, clinic)
    assert _partition_of(ACCESS_LOG, entry.pk) == f"{ACCESS_LOG}_default"


def _partitions_with_a_row(table: str, actor, clinic) -> list[str]:
    """A row in every month partition and in the default one; their names."""
    names = []
    for part in log_partitions(table):
        moment = part.start + datetime.timedelta(hours=1)
        pk = _access_at(moment, actor, clinic).pk if table == ACCESS_LOG else _audit_at(moment, actor, clinic)[0].pk
        names.append(_partition_of(table, pk))
    return names


@pytest.mark.parametrize("table", [AUDIT_LOG, ACCESS_LOG])
def test_every_month_refuses_update_and_delete_as_the_log_does(people, table):
    actor, clinic = people
    names = _partitions_with_a_row(table, actor, clinic)
    far = _months_later(timezone.now(), 50)
    names.append(
        _partition_of(
            table, _access_at(far, actor, clinic).pk if table == ACCESS_LOG else _audit_at(far, actor, clinic)[0].pk
        )
    )
    assert len(set(names)) == len(names) >= 5 and names[-1] == f"{table}_default"
    for name in names:
        for statement in ("UPDATE {} SET occurred_at = occurred_at", "DELETE FROM {}"):
            refused = pytest.raises(DatabaseError, match=f"the table {table} is append-only")
            with refused as error, transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql.SQL(statement).format(sql.Identifier(name)))
            assert f"partition {name}" in str(error.value.__cause__.diag.message_detail)


def test_the_chain_runs_across_a_month_boundary(people):
    actor, clinic = people
    boundary = _months_later(timezone.now(), 1)  # this month's partition and the next one's
    before = _audit_at(boundary - datetime.timedelta(microseconds=1), actor, clinic, count=3)
    after = _audit_at(boundary, actor, clinic, count=2)
    assert {_partition_of(AUDIT_LOG, e.pk) for e in before} == {
        _month_name(AUDIT_LOG, boundary - datetime.timedelta(days=1))
    }
    assert {_partition_of(AUDIT_LOG, e.pk) for e in after} == {_month_name(AUDIT_LOG, boundary)}
    assert after[0].prev_hash == before[-1].hash
    with transaction.atomic():
        last = audit_record(actor=actor, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": "Sist"})
    assert last.prev_hash == after[-1].hash  # the tail is the last row by id, whichever month holds it

    report = audit_chain_verify()
    assert report.whole and report.rows == AuditEvent.objects.count() and report.last_hash == last.hash


def test_the_tail_is_the_last_row_by_id_whatever_its_month(people):
    """The tail is read from the recent months only while their last row holds the sequence's last id."""
    actor, clinic = people

    def record(name: str) -> AuditEvent:
        with transaction.atomic():
            return audit_record(actor=actor, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": name})

    first = record("Ett")
    [loaded] = _audit_at(_months_later(timezone.now(), -30), actor, clinic)  # an old time, a later id
    after_loaded = record("Två")
    assert after_loaded.prev_hash == loaded.hash
    with pytest.raises(RuntimeError), transaction.atomic():  # a write rolled back: its id is gone
        record("Aldrig")
        raise RuntimeError
    after_rollback = record("Tre")
    assert after_rollback.prev_hash == after_loaded.hash and after_rollback.pk > after_loaded.pk + 1
    assert record("Fyra").prev_hash == after_rollback.hash  # the recent months' last row again
    assert first.pk < loaded.pk and audit_chain_verify().whole


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_months_past_the_retention_are_archived_to_checked_files_and_the_chain_verifies_after(
    people, settings, tmp_path
):
    actor, clinic = people
    settings.LOG_RETENTION_YEARS = 10
    now = timezone.now()
    old = _months_later(now, -11 * 12)
    kept = _months_later(now, -9 * 12)
    old_events = _audit_at(old + datetime.timedelta(days=2), actor, clinic, count=3)
    old_entry = _access_at(old + datetime.timedelta(days=2), actor, clinic)
    kept_events = _audit_at(kept, actor, clinic, count=2)
    _access_at(kept, actor, clinic)
    with transaction.atomic():
        audit_record(actor=actor, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": "Nu"})
    audit_rows = AuditEvent.objects.count()

    old_audit, old_access = _month_name(AUDIT_LOG, old), _month_name(ACCESS_LOG, old)
    log_partitions_ensure()  # the old months' rows wait in the default partitions; the archive run does this too
    out = io.StringIO()
    call_command("logs_archive", "--dry-run", directory=tmp_path, stdout=out)
    assert [line.split()[0] for line in out.getvalue().splitlines()] == [old_audit, old_access]
    assert not list(tmp_path.iterdir())
    call_command("logs_archive", directory=tmp_path, stdout=out)

    assert not _exists(old_audit) and not _exists(old_access)  # detached, written out and dropped
    assert _exists(_month_name(AUDIT_LOG, kept)) and _exists(_month_name(ACCESS_LOG, kept))
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old_events]).exists()
    assert not AccessLogEntry.objects.filter(pk=old_entry.pk).exists()

    archive = LogArchive.objects.get(partition=old_audit)
    path = tmp_path / f"{old_audit}.csv.gz"
    assert archive.file_name == path.name and archive.sha256 == _sha256(path)
    assert (tmp_path / f"{path.name}.sha256").read_text() == f"{archive.sha256}  {path.name}\n"
    rows = archive_rows(path)
    assert [int(row["id"]) for row in rows] == [e.pk for e in old_events]
    assert [row["hash"] for row in rows] == [e.hash for e in old_events]
    assert (archive.rows, archive.first_id, archive.last_id) == (3, old_events[0].pk, old_events[-1].pk)
    assert archive.first_prev_hash == old_events[0].prev_hash and archive.last_hash == old_events[-1].hash
    manifest = json.loads((tmp_path / f"{old_audit}.json").read_text())
    assert manifest["sha256"] == archive.sha256 and manifest["last_hash"] == archive.last_hash
    with gzip.open(tmp_path / f"{old_access}.csv.gz", "rt") as text:
        assert PIN in text.read()
    assert LogArchive.objects.get(partition=old_access).rows == 1
    assert f"{old_audit}: 3 rader" in out.getvalue()

    # The chain still verifies: from the archive's boundary, which the first row left follows.
    report = audit_chain_verify()
    assert report.whole and report.rows == audit_rows - 3
    assert report.first_prev_hash == archive.last_hash == kept_events[0].prev_hash != GENESIS
    call_command("audit_verify", stdout=io.StringIO())
    with transaction.atomic():
        audit_record(actor=actor, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": "Efter"})
    assert audit_chain_verify().whole
    # The archive record is append-only as the logs.
    with pytest.raises(DatabaseError, match="the table portal_logarchive is append-only"), transaction.atomic():
        LogArchive.objects.filter(pk=archive.pk).delete()
    # Nothing more is due: a second run archives nothing.
    assert log_partitions_archive(directory=tmp_path) == []


def test_a_removed_archive_boundary_is_found_by_the_verification(people, settings, tmp_path):
    actor, clinic = people
    now = timezone.now()
    _audit_at(_months_later(now, -11 * 12), actor, clinic, count=2)
    _audit_at(now, actor, clinic, count=2)
    log_partitions_archive(directory=tmp_path, retention_years=10)
    assert audit_chain_verify().whole
    with connection.cursor() as cursor:  # as the owner could: the archive's record gone
        cursor.execute("ALTER TABLE portal_logarchive DISABLE TRIGGER portal_logarchive_append_only")
        cursor.execute("DELETE FROM portal_logarchive")
        cursor.execute("ALTER TABLE portal_logarchive ENABLE TRIGGER portal_logarchive_append_only")
    report = audit_chain_verify()
    assert not report.whole and "länken" in report.first_break.reason
    with pytest.raises(CommandError, match="bruten"):
        call_command("audit_verify")


def test_a_month_whose_rows_interleave_with_later_ones_in_the_chain_is_not_archived(people, tmp_path):
    actor, clinic = people
    now = timezone.now()
    _audit_at(now, actor, clinic)
    _audit_at(_months_later(now, -11 * 12), actor, clinic)  # a later id with an old time: the chain would break
    with pytest.raises(LogArchiveRefused, match="arkivera de äldre"):
        log_partitions_archive(directory=tmp_path, retention_years=10)
    assert _exists(_month_name(AUDIT_LOG, _months_later(now, -11 * 12)))  # still attached
    assert LogArchive.objects.count() == 0 and audit_chain_verify().whole


@pytest.mark.slow  # the schema migrated back years of migrations and forward again: 5–15 s
@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_rows_of_the_plain_tables_into_months_and_back():
    actor, clinic = UserFactory(), ClinicFactory()
    before, after = [("portal", "0008_clinic_event_agreement_published")], [("portal", "0010_log_indexes_and_archives")]
    now = timezone.now()
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [ACCESS_LOG])
            assert cursor.fetchone()[0] == "r"
            for months in (-30, -2, 0):
                cursor.execute(
                    f"INSERT INTO {ACCESS_LOG} (occurred_at, role, personal_identity_number, shown, path, clinic_id, "
                    "region_id, user_id, shown_kind, shown_params) VALUES (%s, '', %s, 'x', '', %s, %s, %s, '', '{}') "
                    "RETURNING id",
                    [_months_later(now, months), PIN, clinic.pk, clinic.region_id, actor.pk],
                )
            cursor.execute(f"SELECT max(id) FROM {ACCESS_LOG}")
            last_id = cursor.fetchone()[0]
        MigrationExecutor(connection).migrate(after)

        ids = list(AccessLogEntry.objects.order_by("id").values_list("id", flat=True))
        assert len(ids) == 3 and ids[-1] == last_id
        assert _partition_of(ACCESS_LOG, ids[0]) == _month_name(ACCESS_LOG, _months_later(now, -30))
        assert len(log_partitions(ACCESS_LOG)) == 30 + 1 + 3  # from the first row's month to three ahead
        entry = AccessLogEntry.objects.create(
            user=actor, role="", clinic=clinic, region=clinic.region, personal_identity_number=PIN, shown="x"
        )
        assert entry.pk == last_id + 1  # the id sequence goes on
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s", [f"{ACCESS_LOG}_pkey"]
            )
            assert cursor.fetchone()[0] == "PRIMARY KEY (id, occurred_at)"

        MigrationExecutor(connection).migrate(before)
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [ACCESS_LOG])
            assert cursor.fetchone()[0] == "r"
            cursor.execute(f"SELECT count(*) FROM {ACCESS_LOG}")
            assert cursor.fetchone()[0] == 4
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
