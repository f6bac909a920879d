"""violated_constraint: the constraint PostgreSQL names for a refused write, from its diagnostics."""

import datetime

import pytest
from django.db import IntegrityError, transaction

from claims.models import TariffVersion
from eligibility.models import Patient
from portal.bulk import copy_insert
from portal.db import violated_constraint

pytestmark = pytest.mark.django_db


def _refused(write) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        write()
    return caught.value


def test_a_unique_constraint_is_named(small_world):
    day = datetime.date(2001, 1, 1)
    TariffVersion.objects.create(region=small_world.region, name="first", valid_from=day)
    error = _refused(lambda: TariffVersion.objects.create(region=small_world.region, name="second", valid_from=day))
    assert violated_constraint(error) == "tariff_version_unique_start"


def test_a_check_constraint_is_named_even_when_a_value_spells_another_name():
    error = _refused(
        lambda: Patient.objects.create(personal_identity_number="1234", name="claim_reference_unique_for_clinic")
    )
    assert violated_constraint(error) == "patient_pin_12_digits"
    # The failing row is in the message: searching its text for a constraint's name would have been fooled.
    assert "claim_reference_unique_for_clinic" in str(error)


def test_a_refusal_of_a_copy_insert_is_named_too():
    error = _refused(lambda: copy_insert(Patient, [Patient(personal_identity_number="12345")]))
    assert violated_constraint(error) == "patient_pin_12_digits"


def test_a_missing_value_breaks_no_named_constraint():
    error = _refused(lambda: Patient.objects.create(personal_identity_number=None))
    assert violated_constraint(error) is None


def test_an_integrity_error_without_a_database_cause_names_none():
    assert violated_constraint(IntegrityError("raised by hand")) is None
