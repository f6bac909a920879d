"""The log tables' actor (audit records, clinic events, claim events) is checked per statement, not by a row-by-row
foreign key (portal.log_actors): a row naming no user is refused, and a user named by a row is not deleted."""

import pytest
from django.db import IntegrityError, connection, transaction

from clinics.audit import ClinicsAudit
from portal.audit import audit_record
from portal.events import clinic_events_record_each
from portal.models import ClinicEvent, ClinicEventKind
from tests.clinics.factories import ClinicFactory, UserFactory

MISSING = 2_000_000_000


def _insert(sql: str, params) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO claims_claimevent (claim_id, from_state, to_state, kind, params, actor_id, occurred_at) "
        "VALUES (1, '', 'received', 'note', '{}', %s, now())",
        "INSERT INTO portal_clinicevent (clinic_id, kind, object_type, object_id, data, actor_id, occurred_at) "
        "VALUES (%s, 'claim.voided', 'claim', 1, '{}', %s, now())",
    ],
)
def test_an_event_naming_no_user_is_refused(sql):
    clinic = ClinicFactory()
    params = [MISSING] if sql.count("%s") == 1 else [clinic.pk, MISSING]
    with pytest.raises(IntegrityError, match="not a user"):
        _insert(sql, params)


@pytest.mark.django_db
def test_an_update_naming_no_user_is_refused_and_a_user_is_taken():
    clinic, user = ClinicFactory(), UserFactory()
    with transaction.atomic():
        clinic_events_record_each(
            kind=ClinicEventKind.CLAIM_VOIDED,
            object_type="claim",
            object_ids=[1, 2],
            clinic_ids=[clinic.pk, clinic.pk],
            data={"state": "voided"},
            data_each={"invoice_id": [7, 8], "from_state": ["received", None]},
            actor_id=user.pk,
        )
    with pytest.raises(IntegrityError, match="not a user"):
        _insert("UPDATE portal_clinicevent SET actor_id = %s WHERE clinic_id = %s", [MISSING, clinic.pk])


@pytest.mark.django_db
def test_an_audit_record_naming_no_user_is_refused():
    clinic, user = ClinicFactory(), UserFactory()
    user.pk = MISSING
    with pytest.raises(IntegrityError, match="not a user"), transaction.atomic():
        audit_record(actor=user, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": "x"}, clinic=clinic)


@pytest.mark.django_db
@pytest.mark.parametrize("table", ["portal_auditevent", "portal_clinicevent"])
def test_a_user_named_by_a_log_row_is_not_deleted(table):
    clinic, user = ClinicFactory(), UserFactory()
    with transaction.atomic():
        if table == "portal_auditevent":
            audit_record(actor=user, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic, after={"name": "x"}, clinic=clinic)
        else:
            _one_clinic_event(clinic, actor_id=user.pk)
    with pytest.raises(IntegrityError, match="named as actor"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinics_user WHERE id = %s", [user.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the check the commit makes


@pytest.mark.django_db
def test_the_events_data_is_made_by_the_database_as_each_object_s():
    clinic = ClinicFactory()
    with transaction.atomic():
        clinic_events_record_each(
            kind=ClinicEventKind.CLAIM_VOIDED,
            object_type="claim",
            object_ids=[11, 12],
            clinic_ids=[clinic.pk, clinic.pk],
            data={"state": "voided", "approved_on": None},
            data_each={"invoice_id": [7, 8], "from_state": ['received "x"', None]},
        )
    events = ClinicEvent.objects.filter(clinic=clinic).order_by("pk")
    assert [(event.object_id, event.data) for event in events] == [
        (11, {"invoice_id": 7, "from_state": 'received "x"', "state": "voided", "approved_on": None}),
        (12, {"invoice_id": 8, "from_state": None, "state": "voided", "approved_on": None}),
    ]


@pytest.mark.django_db
def test_a_clinic_event_naming_no_clinic_is_refused_by_insert_and_by_update():
    clinic = ClinicFactory()
    sql = (
        "INSERT INTO portal_clinicevent (clinic_id, kind, object_type, object_id, data, occurred_at) "
        "VALUES (%s, 'claim.voided', 'claim', 1, '{}', now()), (%s, 'claim.voided', 'claim', 2, '{}', now())"
    )
    with pytest.raises(IntegrityError, match="names clinic_id 2000000000, which is not in table"):
        _insert(sql, [clinic.pk, MISSING])
    _insert(sql, [clinic.pk, clinic.pk])
    assert ClinicEvent.objects.filter(clinic=clinic).count() == 2
    with pytest.raises(IntegrityError, match="which is not in table"):
        _insert("UPDATE portal_clinicevent SET clinic_id = %s WHERE clinic_id = %s", [MISSING, clinic.pk])


def _one_clinic_event(clinic, *, actor_id: int | None = None) -> None:
    clinic_events_record_each(
        kind=ClinicEventKind.CLAIM_VOIDED,
        object_type="claim",
        object_ids=[1],
        clinic_ids=[clinic.pk],
        data={},
        data_each={},
        actor_id=actor_id,
    )


@pytest.mark.django_db
def test_a_clinic_named_by_a_clinic_event_is_not_deleted_nor_its_id_changed():
    clinic = ClinicFactory()
    _one_clinic_event(clinic)
    for sql, params in [
        ("DELETE FROM clinics_clinic WHERE id = %s", [clinic.pk]),
        ("UPDATE clinics_clinic SET id = %s WHERE id = %s", [MISSING, clinic.pk]),
    ]:
        with (
            pytest.raises(IntegrityError, match=r"named in portal_clinicevent\.clinic_id"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the check the commit makes, at each statement
            cursor.execute(sql, params)
    # Any other change to the clinic is left alone.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("UPDATE clinics_clinic SET name = name || ' AB' WHERE id = %s", [clinic.pk])


@pytest.mark.django_db(transaction=True)
def test_a_clinic_event_keeps_its_clinic_from_being_deleted_until_it_commits():
    """The check takes the clinic FOR KEY SHARE, as the key did: nobody deletes it before the event commits."""
    clinic = ClinicFactory()
    with transaction.atomic():
        _one_clinic_event(clinic)
        with connection.cursor() as cursor:
            # Locked by this transaction (its id in the row's xmax, as a KEY SHARE lock leaves it) until it ends.
            cursor.execute(
                "SELECT xmax::text = pg_current_xact_id()::text FROM clinics_clinic WHERE id = %s", [clinic.pk]
            )
            assert cursor.fetchone()[0]
