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
from portal.db_roles import LOG_TABLES
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
