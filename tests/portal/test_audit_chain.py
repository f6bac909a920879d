"""The audit log's hash chain: every write chains, and a row changed or removed even by the owner is found."""

import datetime
import hashlib
import importlib
import json
import random
import threading
import zoneinfo
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from claims.models import ClaimState
from clinics.audit import ClinicsAudit
from portal.audit import audit_chain_verify, audit_record, audit_record_many
from portal.audit_chain import GENESIS, HASHED_FIELDS, audit_event_hash, canonical_text
from portal.models import AuditEvent
from tests.clinics.factories import ClinicFactory, UserFactory


def _record(actor, clinic, name: str) -> AuditEvent:
    with transaction.atomic():
        return audit_record(
            actor=actor, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": name}, clinic=clinic
        )


def _as_owner(sql: str, params=()) -> None:
    """Change the log as the tables' owner can: past the append-only trigger."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own inserts' checks, before ALTER TABLE
        cursor.execute("ALTER TABLE portal_auditevent DISABLE TRIGGER portal_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE portal_auditevent ENABLE TRIGGER portal_auditevent_append_only")


@pytest.mark.django_db
def test_each_row_carries_the_hash_of_the_row_before_and_its_own():
    actor, clinic = UserFactory(), ClinicFactory()
    first = _record(actor, clinic, "Ett")
    with transaction.atomic():
        audit_record_many(
            actor=actor,
            action=ClinicsAudit.CLINIC_UPDATED,
            changes=[(clinic, None, {"name": f"Många {n}"}) for n in range(3)],
            clinic=clinic,
        )
    last = _record(actor, clinic, "Sist")

    rows = list(AuditEvent.objects.order_by("id"))
    assert [row.prev_hash for row in rows] == [GENESIS, *[row.hash for row in rows[:-1]]]
    assert rows[0].pk == first.pk and rows[-1].pk == last.pk and last.hash == rows[-1].hash
    assert len({row.hash for row in rows}) == 5 and all(len(row.hash) == 64 for row in rows)
    stored = AuditEvent.objects.values().get(pk=last.pk)
    assert stored["hash"] == audit_event_hash(stored, stored["prev_hash"])  # recomputable from what is stored
    report = audit_chain_verify()
    assert report.whole and report.rows == 5 and report.last_hash == last.hash


@pytest.mark.django_db
def test_a_row_changed_by_the_owner_is_found_and_the_command_fails():
    actor, clinic = UserFactory(), ClinicFactory()
    events = [_record(actor, clinic, f"Namn {n}") for n in range(4)]
    call_command("audit_verify")  # whole: no error

    _as_owner('UPDATE portal_auditevent SET after = \'{"name": "Förfalskat"}\' WHERE id = %s', [events[2].pk])

    report = audit_chain_verify()
    assert report.first_break.event_id == events[2].pk
    assert "ändrad" in report.first_break.reason
    with pytest.raises(CommandError, match=f"bruten vid händelse #{events[2].pk} "):
        call_command("audit_verify")


@pytest.mark.django_db
def test_a_row_rehashed_by_the_owner_breaks_the_link_of_the_next():
    actor, clinic = UserFactory(), ClinicFactory()
    events = [_record(actor, clinic, f"Namn {n}") for n in range(3)]
    forged = AuditEvent.objects.values().get(pk=events[1].pk)
    forged["after"] = {"name": "Förfalskat"}
    _as_owner(
        'UPDATE portal_auditevent SET after = \'{"name": "Förfalskat"}\', hash = %s WHERE id = %s',
        [audit_event_hash(forged, forged["prev_hash"]), events[1].pk],
    )

    assert audit_chain_verify().first_break.event_id == events[2].pk


@pytest.mark.django_db
def test_a_row_removed_by_the_owner_is_found():
    actor, clinic = UserFactory(), ClinicFactory()
    events = [_record(actor, clinic, f"Namn {n}") for n in range(3)]

    _as_owner("DELETE FROM portal_auditevent WHERE id = %s", [events[1].pk])

    report = audit_chain_verify()
    assert report.first_break.event_id == events[2].pk
    assert "borttagen" in report.first_break.reason


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_chain_one_after_the_other():
    actor, clinic = UserFactory(), ClinicFactory()
    barrier = threading.Barrier(4)
    errors = []

    def write(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(5):
                with transaction.atomic():
                    audit_record_many(
                        actor=actor,
                        action=ClinicsAudit.CLINIC_UPDATED,
                        changes=[(clinic, None, {"n": n, "i": i, "j": j}) for j in range(3)],
                    )
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    report = audit_chain_verify()
    assert report.whole and report.rows == 4 * 5 * 3


@pytest.mark.django_db
def test_the_migration_chains_the_rows_written_before_the_chain():
    actor, clinic = UserFactory(), ClinicFactory()
    for n in range(3):
        _record(actor, clinic, f"Namn {n}")
    _as_owner("UPDATE portal_auditevent SET prev_hash = '', hash = ''")  # as rows written before 0004 are
    assert not audit_chain_verify().whole

    migration = importlib.import_module("portal.migrations.0004_audit_hash_chain")
    with transaction.atomic():
        migration.chain_existing_rows(apps, SimpleNamespace(connection=connection))

    report = audit_chain_verify()
    assert report.whole and report.rows == 3
    _record(actor, clinic, "Efter")  # and the chain goes on from there
    assert audit_chain_verify().whole


def _json_dumps_hash_text(values, prev_hash: str) -> str:
    """The canonical text as the chain defined it first: json.dumps of the fields, moments as UTC ISO text."""
    canonical = {
        name: value.astimezone(datetime.UTC).isoformat() if isinstance(value, datetime.datetime) else value
        for name, value in ((name, values[name]) for name in HASHED_FIELDS)
    }
    canonical["prev_hash"] = prev_hash
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_the_canonical_text_written_key_by_key_is_json_dumps_own_for_any_value():
    """canonical_text writes the fields one by one (faster at 100 000 rows): every row ever hashed by json.dumps
    must give the same text, whatever its values hold."""
    stockholm = zoneinfo.ZoneInfo("Europe/Stockholm")
    texts = [
        "",
        "R-2026-000123",
        'citat "och" \\ snedstreck',
        "åäö ÅÄÖ é ü",
        "rad\nbrytning\t\x01",
        "🦷",
        "19121212-1212",
    ]
    values_of_kind = [
        None,
        True,
        False,
        0,
        -17,
        2**70,
        1.5,
        *texts,
        ClaimState.APPROVED,  # a text's subclass (TextChoices), as the services pass
        datetime.datetime(2026, 12, 7, 13, 0, 0, 123456, tzinfo=datetime.UTC),
        datetime.datetime(2026, 6, 1, 0, 0, tzinfo=stockholm),
        {"state": "received", "approved_on": "2027-02-05", "b": {"z": 1, "a": [1, "två", None]}},
        {},
        [3, 2, 1],
    ]
    chance = random.Random(16)
    for _ in range(500):
        values = {name: chance.choice(values_of_kind) for name in HASHED_FIELDS}
        prev_hash = chance.choice([GENESIS, "ab" * 32])
        assert canonical_text(values, prev_hash) == _json_dumps_hash_text(values, prev_hash)
        assert (
            audit_event_hash(values, prev_hash)
            == hashlib.sha256(_json_dumps_hash_text(values, prev_hash).encode()).hexdigest()
        )
