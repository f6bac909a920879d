"""The role the portal runs as (portal.db_roles): ordinary work on the tables, but the logs only read and added to.

A throwaway role is made in the test database and granted as `manage.py db_grant_app_role` grants
tandportal_app; the test takes that role (SET ROLE) and tries what row triggers alone could not stop.
CREATE ROLE is transactional in PostgreSQL: the test's rollback removes it again.
"""

import io
import os

import pytest
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction
from psycopg import sql

from clinics.audit import ClinicsAudit
from clinics.models import Clinic
from portal.audit import audit_chain_verify, audit_record
from portal.db_roles import LOG_TABLES, PARTITIONED_LOG_TABLES
from portal.log_partitions import AUDIT_LOG, log_partitions, log_partitions_ensure
from portal.models import AuditEvent
from tests.clinics.factories import ClinicFactory, UserFactory

ROLE = f"tandportal_app_test_{os.getpid()}"


@pytest.fixture
def app_role(db):
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(ROLE)))
    call_command("db_grant_app_role", ROLE, stdout=io.StringIO())  # as the web container's start does
    return ROLE


def _as_app_role(statement: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(ROLE)))
        cursor.execute(statement, params)


REFUSED = [
    ("UPDATE {table} SET id = id", "permission denied for table {table}"),
    ("DELETE FROM {table}", "permission denied for table {table}"),
    ("TRUNCATE {table}", "permission denied for table {table}"),
    ("ALTER TABLE {table} DISABLE TRIGGER {table}_append_only", "must be owner of table {table}"),
    ("ALTER TABLE {table} DISABLE TRIGGER ALL", "must be owner of table {table}"),
    ("DROP TABLE {table}", "must be owner of table {table}"),
]


@pytest.mark.parametrize("table", LOG_TABLES)
@pytest.mark.parametrize(("statement", "error"), REFUSED, ids=[s.split()[0] + " " + s.split()[-1] for s, _ in REFUSED])
def test_the_app_role_cannot_change_a_log(app_role, table, statement, error):
    ClinicFactory()  # a row to change, were it allowed
    with pytest.raises(ProgrammingError, match=f"^{error.format(table=table)}"):
        _as_app_role(statement.format(table=table))


def test_the_app_role_cannot_skip_the_triggers_with_session_replication_role(app_role):
    with pytest.raises(ProgrammingError, match=r'^permission denied to set parameter "session_replication_role"'):
        _as_app_role("SET session_replication_role = replica")


def test_the_app_role_adds_to_the_chained_audit_log_and_works_on_ordinary_tables(app_role):
    clinic, actor = ClinicFactory(), UserFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(ROLE)))
        Clinic.objects.filter(pk=clinic.pk).update(name="Ändrad")
        audit_record(actor=actor, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": "Ändrad"})
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == ROLE
        assert AuditEvent.objects.filter(object_id=str(clinic.pk)).exists()
    assert audit_chain_verify().whole


@pytest.mark.parametrize("table", PARTITIONED_LOG_TABLES)
@pytest.mark.parametrize("statement", ["SELECT 1 FROM {}", "UPDATE {} SET id = id", "DELETE FROM {}", "TRUNCATE {}"])
def test_the_app_role_reaches_a_logs_months_only_through_the_log(app_role, table, statement):
    # GRANT ... ON ALL TABLES reaches the partitions too; the grant takes it back there (a row trigger stops no
    # TRUNCATE). Rows still go in and are read through the partitioned table.
    months = [part.name for part in log_partitions(table)] + [f"{table}_default"]
    for month in months:
        with pytest.raises(ProgrammingError, match=f"^permission denied for table {month}"):
            _as_app_role(sql.SQL(statement).format(sql.Identifier(month)))


def test_the_app_role_makes_the_coming_months_but_writes_no_archive_record(app_role):
    log_partitions_ensure(months_ahead=3)  # as the owner: up to three months ahead, as after migrating
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(ROLE)))
        assert log_partitions_ensure(months_ahead=6) == 2 * 3  # months 4 to 6 of each log, as the owner's
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", [log_partitions(AUDIT_LOG)[-1].name])
        assert cursor.fetchone()[0] != ROLE
    with pytest.raises(ProgrammingError, match=r"^permission denied for table portal_logarchive"):
        _as_app_role(
            'INSERT INTO portal_logarchive ("table", partition, range_start, range_end, rows, first_prev_hash, '
            "last_hash, file_name, sha256, archived_at) VALUES ('t', 'p', now(), now(), 0, '', '', 'f', 's', now())"
        )
