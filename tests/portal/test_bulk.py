"""COPY inserts (portal.bulk.copy_insert): the rows bulk_create would write, ids when asked, Django's errors."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from eligibility.models import Patient
from portal.bulk import copy_insert
from portal.models import AuditEvent
from tests.testdata import TEST_PERSONNUMMER


def _new_pins(count: int) -> list[str]:
    """Test personnummer of no patient yet (a test may have made some)."""
    known = set(Patient.objects.values_list("personal_identity_number", flat=True))
    return [pin for pin in TEST_PERSONNUMMER if pin not in known][:count]


@pytest.mark.django_db
def test_rows_are_written_with_their_json_foreign_keys_and_creation_time(small_world):
    before = timezone.now()
    events = [
        AuditEvent(
            actor=small_world.biller, action="tests.bulk.copied", object_type="x", object_id=str(n), after={"n": n}
        )
        for n in range(3)
    ]

    assert copy_insert(AuditEvent, events) == 3

    stored = list(AuditEvent.objects.filter(action="tests.bulk.copied").order_by("object_id"))
    assert [(e.actor_id, e.object_id, e.after, e.before) for e in stored] == [
        (small_world.biller.pk, str(n), {"n": n}, {}) for n in range(3)
    ]
    assert all(before <= e.occurred_at <= timezone.now() for e in stored)
    assert len({e.occurred_at for e in stored}) == 1  # one moment for the statement, as one INSERT
    assert events[0].occurred_at == stored[0].occurred_at  # and the instances show it


@pytest.mark.django_db
def test_with_ids_each_instance_gets_the_id_it_is_stored_under():
    pins = _new_pins(3)
    patients = [Patient(personal_identity_number=pin) for pin in pins]

    copy_insert(Patient, patients, ids=True)

    assert all(patient.pk and not patient._state.adding for patient in patients)
    assert {p.pk: p.personal_identity_number for p in patients} == dict(
        Patient.objects.filter(personal_identity_number__in=pins).values_list("pk", "personal_identity_number")
    )
    patients[0].name = "Namn"
    patients[0].save(update_fields=["name"])  # saved rows, not new ones
    assert Patient.objects.get(pk=patients[0].pk).name == "Namn"


@pytest.mark.django_db
def test_a_unique_key_taken_raises_djangos_integrity_error_and_writes_nothing():
    pin, other = _new_pins(2)
    Patient.objects.create(personal_identity_number=pin)

    with pytest.raises(IntegrityError), transaction.atomic():
        copy_insert(Patient, [Patient(personal_identity_number=other), Patient(personal_identity_number=pin)])

    assert not Patient.objects.filter(personal_identity_number=other).exists()
    assert Patient.objects.filter(personal_identity_number=pin).count() == 1  # the connection is still usable
