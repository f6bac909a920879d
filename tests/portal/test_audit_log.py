"""The audit log and the patient-data access log: what they store, and that nothing can change them afterwards."""

import datetime
import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from clinics.audit import ClinicsAudit
from clinics.models import Clinic, ClinicRole, RegionRole, SupportForm
from eligibility import services as eligibility_services
from eligibility.audit import EligibilityAudit
from portal.audit import AuditOutsideTransaction, access_log_record, audit_record, snapshot
from portal.models import AccessLogEntry, AuditEvent
from tests.clinics.factories import (
    ClinicFactory,
    ClinicMembershipFactory,
    RegionMembershipFactory,
    UserFactory,
)
from tests.eligibility.factories import PatientFactory

# Skatteverket's published test personnummer; never a real person's.
TEST_PERSONNUMMER = "200001012384"
# What the trigger in portal/migrations/0002_append_only_logs.py raises (insufficient_privilege).
APPEND_ONLY_SQLSTATE = "42501"


def _record_clinic_change(clinic: Clinic, actor) -> AuditEvent:
    with transaction.atomic():
        before = snapshot(clinic, ["name"])
        clinic.name = "Folktandvården Ändrad"
        clinic.save()
        return audit_record(
            actor=actor,
            action=ClinicsAudit.CLINIC_UPDATED,
            obj=clinic,
            before=before,
            after=snapshot(clinic, ["name"]),
            clinic=clinic,
            region=clinic.region,
        )


def _clinic_request(path: str = "/klinik/1/patient/"):
    """A request as `portal.access.clinic_view` leaves it for the view."""
    membership = ClinicMembershipFactory(role=ClinicRole.LOCAL_ADMIN)
    request = RequestFactory().get(path)
    request.user = membership.user
    request.membership = membership
    request.clinic = membership.clinic
    request.region = membership.clinic.region
    return request


def _assert_append_only(error: pytest.ExceptionInfo, table: str) -> None:
    assert error.value.__cause__.sqlstate == APPEND_ONLY_SQLSTATE
    assert f"the table {table} is append-only" in str(error.value)


# audit_record ------------------------------------------------------------------------------------


def test_audit_record_stores_who_did_what_to_which_object(db):
    actor = UserFactory(email="admin@klinik.test")
    clinic = ClinicFactory(name="Folktandvården Gamla")

    event = _record_clinic_change(clinic, actor)

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor == actor
    assert stored.actor_email == "admin@klinik.test"
    assert stored.action == "clinics.clinic.updated"
    assert stored.object_type == "clinics.clinic"
    assert stored.object_id == str(clinic.pk)
    assert stored.object_repr == f"{clinic.number} Folktandvården Ändrad"
    assert stored.clinic_id == clinic.pk
    assert stored.region_id == clinic.region_id
    assert stored.before == {"name": "Folktandvården Gamla"}
    assert stored.after == {"name": "Folktandvården Ändrad"}
    assert stored.occurred_at is not None


def test_audit_record_keeps_snapshots_of_dates_and_related_objects_as_json(db):
    membership = ClinicMembershipFactory()
    with transaction.atomic():
        event = audit_record(
            actor=membership.user,
            action=ClinicsAudit.MEMBERSHIP_ADDED,
            obj=membership,
            after=snapshot(membership, ["user", "clinic", "role", "created_at"]),
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.after == {
        "user": membership.user.pk,
        "clinic": membership.clinic.pk,
        "role": "biller",
        "created_at": membership.created_at.isoformat(),
    }
    assert datetime.datetime.fromisoformat(stored.after["created_at"]) == membership.created_at
    assert stored.before == {}
    assert stored.clinic_id is None
    assert stored.region_id is None


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_audit_record_without_a_signed_in_actor_stores_no_user(db, actor):
    clinic = ClinicFactory()
    with transaction.atomic():
        event = audit_record(actor=actor, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor is None
    assert stored.actor_email == ""


def test_audit_record_outside_a_transaction_is_refused(transactional_db):
    clinic = ClinicFactory()
    assert not connection.in_atomic_block
    with pytest.raises(AuditOutsideTransaction, match=r"clinics\.clinic\.updated: audit_record must run inside"):
        audit_record(actor=UserFactory(), action=ClinicsAudit.CLINIC_UPDATED, obj=clinic)
    # The demo, loaded for the transactional tests, has audit rows of its own: none of them is this clinic's.
    assert not AuditEvent.objects.filter(object_type="clinics.clinic", object_id=str(clinic.pk)).exists()


# Personal data masked ----------------------------------------------------------------------------------

# Skatteverket test numbers that are not in the demo data.
NEW_PIN = "200001042399"
TOLVAN = "191212121212"


def _stored_text(event: AuditEvent) -> str:
    return json.dumps(AuditEvent.objects.values().get(pk=event.pk), default=str)


def test_auditing_a_patient_stores_the_personnummer_masked(db):
    patient = PatientFactory(personal_identity_number=NEW_PIN)
    assert str(patient) == "20000104-2399"
    with transaction.atomic():
        event = audit_record(actor=None, action=EligibilityAudit.PATIENT_CREATED, obj=patient)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.object_repr == "20000104-****"
    assert stored.object_id == str(patient.pk)  # the row still leads to the patient
    assert "2399" not in _stored_text(event)


def test_creating_a_patient_through_the_service_audits_it_masked(db):
    with transaction.atomic():
        patient = eligibility_services.patient_get_or_create(actor=None, personal_identity_number=NEW_PIN)
    stored = AuditEvent.objects.get(action="eligibility.patient.created", object_id=str(patient.pk))
    assert stored.object_repr == "20000104-****"


def test_a_personnummer_in_the_before_and_after_data_is_masked(db):
    clinic = ClinicFactory()
    with transaction.atomic():
        event = audit_record(
            actor=None,
            action=ClinicsAudit.CLINIC_UPDATED,
            obj=clinic,
            before={"note": f"Fel patient {TOLVAN}", "claims": [1, 2], "count": 3},
            after={"note": "Rätt patient 20000104-2399", "lines": [{"text": "121212-1212"}], "org": "556036-0793"},
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.before == {"note": "Fel patient 19121212-****", "claims": [1, 2], "count": 3}
    assert stored.after == {
        "note": "Rätt patient 20000104-****",
        "lines": [{"text": "121212-****"}],
        "org": "556036-0793",
    }


def test_a_reason_typed_with_a_personnummer_is_audited_masked(small_world):
    certificate = eligibility_services.certificate_register(
        actor=small_world.coordinator,
        region=small_world.region,
        personal_identity_number=NEW_PIN,
        support_form=SupportForm.N,
        number="900001",
        group="N1",
        valid_from=timezone.localdate() - datetime.timedelta(days=100),
        valid_to=None,
    )
    eligibility_services.certificate_revoke(
        actor=small_world.coordinator,
        certificate=certificate,
        revoked_from=timezone.localdate() - datetime.timedelta(days=10),
        reason=f"Registrerat på fel person, ska vara {TOLVAN}",
    )
    event = AuditEvent.objects.get(action="eligibility.certificate.revoked", object_id=str(certificate.pk))
    assert event.after["revocation_reason"] == "Registrerat på fel person, ska vara 19121212-****"
    # The certificate itself keeps what was typed; only the log is masked.
    certificate.refresh_from_db()
    assert certificate.revocation_reason.endswith(TOLVAN)


def test_a_long_object_text_is_masked_before_it_is_cut(db, monkeypatch):
    patient = PatientFactory(personal_identity_number=NEW_PIN)
    monkeypatch.setattr(type(patient), "__str__", lambda self: "x" * 190 + self.personal_identity_number)
    with transaction.atomic():
        event = audit_record(actor=None, action=EligibilityAudit.PATIENT_CREATED, obj=patient)
    # Cut first, "2000010423" would be left: ten digits, most of the number.
    assert AuditEvent.objects.get(pk=event.pk).object_repr == "x" * 190 + "20000104-*"


# Rollback: the audit row lives and dies with the change it records -----------------------------------


class Boom(Exception):
    pass


def test_audit_record_is_rolled_back_with_its_transaction(transactional_db):
    clinic = ClinicFactory(name="Folktandvården Gamla")
    actor = UserFactory()

    with pytest.raises(Boom), transaction.atomic():
        event = _record_clinic_change(clinic, actor)  # a savepoint inside the outer transaction
        assert AuditEvent.objects.filter(pk=event.pk).exists()
        raise Boom

    assert not AuditEvent.objects.exists()
    clinic.refresh_from_db()
    assert clinic.name == "Folktandvården Gamla"

    # The control: the same change committed leaves both the change and its record.
    event = _record_clinic_change(clinic, actor)
    assert not connection.in_atomic_block
    assert AuditEvent.objects.filter(pk=event.pk, object_id=str(clinic.pk)).exists()
    clinic.refresh_from_db()
    assert clinic.name == "Folktandvården Ändrad"


def test_audit_record_is_rolled_back_with_its_savepoint(db):
    clinic = ClinicFactory()
    with pytest.raises(Boom), transaction.atomic():
        audit_record(actor=None, action=ClinicsAudit.CLINIC_UPDATED, obj=clinic)
        raise Boom
    assert not AuditEvent.objects.filter(object_type="clinics.clinic", object_id=str(clinic.pk)).exists()


# Append-only, enforced by the database -------------------------------------------------------------


@pytest.fixture
def audit_event(db) -> AuditEvent:
    return _record_clinic_change(ClinicFactory(name="Folktandvården Gamla"), UserFactory())


@pytest.fixture
def access_log_entry(db) -> AccessLogEntry:
    return access_log_record(request=_clinic_request(), personal_identity_number=TEST_PERSONNUMMER, shown="Sök person")


ORM_CHANGES = {
    "queryset update": lambda model, row: model.objects.filter(pk=row.pk).update(occurred_at=timezone.now()),
    "queryset delete": lambda model, row: model.objects.filter(pk=row.pk).delete(),
    "instance save": lambda model, row: row.save(),
    "instance delete": lambda model, row: row.delete(),
    "delete everything": lambda model, row: model.objects.all().delete(),
}


@pytest.mark.parametrize("change", ORM_CHANGES)
@pytest.mark.parametrize(("model", "row_fixture"), [(AuditEvent, "audit_event"), (AccessLogEntry, "access_log_entry")])
def test_the_orm_cannot_change_or_delete_a_log_row(request, model, row_fixture, change):
    row = request.getfixturevalue(row_fixture)
    stored_before = model.objects.values().get(pk=row.pk)
    rows_before = model.objects.count()  # the demo's rows too, whatever ran before

    with pytest.raises(DatabaseError) as error, transaction.atomic():
        ORM_CHANGES[change](model, row)

    _assert_append_only(error, model._meta.db_table)
    assert model.objects.values().get(pk=row.pk) == stored_before
    assert model.objects.count() == rows_before


RAW_SQL = [
    "UPDATE {table} SET occurred_at = occurred_at - interval '1 day' WHERE id = %s",
    "UPDATE {table} SET id = id WHERE id = %s",
    "DELETE FROM {table} WHERE id = %s",
    "DELETE FROM {table} WHERE id = %s OR true",
]


@pytest.mark.parametrize("sql", RAW_SQL)
@pytest.mark.parametrize(("model", "row_fixture"), [(AuditEvent, "audit_event"), (AccessLogEntry, "access_log_entry")])
def test_raw_sql_cannot_change_or_delete_a_log_row(request, model, row_fixture, sql):
    row = request.getfixturevalue(row_fixture)
    table = model._meta.db_table
    stored_before = model.objects.values().get(pk=row.pk)

    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.format(table=table), [row.pk])

    _assert_append_only(error, table)
    assert model.objects.values().get(pk=row.pk) == stored_before


def test_log_tables_still_accept_new_rows(audit_event, access_log_entry):
    """Append-only, not read-only: a second record of each kind goes in next to the first."""
    audits, accesses = AuditEvent.objects.count(), AccessLogEntry.objects.count()
    _record_clinic_change(ClinicFactory(), UserFactory())
    access_log_record(request=_clinic_request(), personal_identity_number=TEST_PERSONNUMMER, shown="Kostnadsförslag")
    assert AuditEvent.objects.count() == audits + 1
    assert AccessLogEntry.objects.count() == accesses + 1


# access_log_record -------------------------------------------------------------------------------


def test_access_log_records_who_saw_which_patient_where(db):
    request = _clinic_request("/klinik/7/patient/sok/?sida=2")

    entry = access_log_record(request=request, personal_identity_number=TEST_PERSONNUMMER, shown="Sök person")

    stored = AccessLogEntry.objects.get(pk=entry.pk)
    assert stored.user == request.user
    assert stored.role == "local_admin"
    assert stored.clinic == request.clinic
    assert stored.region == request.clinic.region
    assert stored.personal_identity_number == TEST_PERSONNUMMER
    assert stored.shown == "Sök person"
    assert stored.path == "/klinik/7/patient/sok/"  # the query string may hold search terms; it is not kept
    assert stored.occurred_at is not None


def test_access_log_in_a_region_view_has_the_region_and_no_clinic(db):
    membership = RegionMembershipFactory(role=RegionRole.COORDINATOR)
    request = RequestFactory().get("/region/vg/patient/")
    request.user = membership.user
    request.membership = membership
    request.region = membership.region
    request.clinic = None  # as portal.access.region_view sets it

    entry = access_log_record(request=request, personal_identity_number=TEST_PERSONNUMMER, shown="Patientens fakturor")

    stored = AccessLogEntry.objects.get(pk=entry.pk)
    assert stored.user == membership.user
    assert stored.role == "coordinator"
    assert stored.clinic is None
    assert stored.region == membership.region
    assert stored.path == "/region/vg/patient/"


def test_access_log_takes_the_region_from_the_clinic_when_the_request_has_none(db):
    request = _clinic_request()
    del request.region
    entry = access_log_record(request=request, personal_identity_number=TEST_PERSONNUMMER, shown="Sök person")
    assert AccessLogEntry.objects.get(pk=entry.pk).region == request.clinic.region


def test_access_log_truncates_what_was_shown_to_the_column(db):
    entry = access_log_record(request=_clinic_request(), personal_identity_number=TEST_PERSONNUMMER, shown="x" * 250)
    assert AccessLogEntry.objects.get(pk=entry.pk).shown == "x" * 200


def test_access_log_without_a_clinic_or_region_is_refused(db):
    user = UserFactory()
    outside = RequestFactory().get("/konto/")
    outside.user = user
    with pytest.raises(ValueError, match="inside a clinic or region"):
        access_log_record(request=outside, personal_identity_number=TEST_PERSONNUMMER, shown="Sök person")

    outside.clinic = None
    outside.region = None
    with pytest.raises(ValueError, match="inside a clinic or region"):
        access_log_record(request=outside, personal_identity_number=TEST_PERSONNUMMER, shown="Sök person")

    assert not AccessLogEntry.objects.exists()
