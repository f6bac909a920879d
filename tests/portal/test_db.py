"""violated_constraint: the constraint PostgreSQL names for a refused write, from its diagnostics."""

import datetime

import pytest
from django.db import IntegrityError, transaction

from claims.models import TariffVersion
from clinics.models import ClinicMembership
from eligibility.models import Patient
from portal.bulk import copy_insert
from portal.db import PreparedQuery, violated_constraint

from ..clinics.factories import ClinicFactory, ClinicMembershipFactory

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


# PreparedQuery: compiled by the ORM once, run with new values as plain SQL ----------------------------------

_NOBODY = -7_390_514_223


def _memberships(user_id):
    return ClinicMembership.objects.filter(user=user_id, is_active=True).order_by("clinic_id").values_list("clinic_id")


def test_a_prepared_query_answers_as_the_orm_does_for_each_value(small_world):
    prepared = PreparedQuery(_memberships, user_id=_NOBODY)
    other = ClinicFactory(region=small_world.region)
    ClinicMembershipFactory(user=small_world.biller, clinic=other)
    for user in (small_world.biller, small_world.coordinator):
        assert prepared.rows(user_id=user.pk) == list(_memberships(user.pk))
        assert prepared.count(user_id=user.pk) == _memberships(user.pk).count()
    assert (other.pk,) in prepared.rows(user_id=small_world.biller.pk)
    assert prepared.rows(user_id=small_world.coordinator.pk) == []


def test_a_prepared_query_is_compiled_once_and_then_only_run(small_world, django_assert_num_queries):
    built = []

    def build(user_id):
        built.append(user_id)
        return _memberships(user_id)

    prepared = PreparedQuery(build, user_id=_NOBODY)
    user_id = small_world.biller.pk
    with django_assert_num_queries(3):
        for _ in range(3):
            prepared.rows(user_id=user_id)
    assert built == [_NOBODY]


def test_a_prepared_query_refuses_a_marker_the_query_does_not_take(db):
    prepared = PreparedQuery(lambda user_id: ClinicMembership.objects.values_list("pk"), user_id=_NOBODY)
    with pytest.raises(ValueError, match="user_id"):
        prepared.rows(user_id=1)


def test_a_prepared_query_makes_a_marker_of_each_parameters_type_and_answers_with_the_values(small_world):
    ClinicMembershipFactory(user=small_world.biller, clinic=ClinicFactory(region=small_world.region))

    def build(user_id, clinic_id, role, since, after):
        return (
            ClinicMembership.objects.filter(
                user=user_id, clinic__gt=clinic_id, role__gt=role, user__date_joined__date__gte=since
            )
            .filter(user__date_joined__gt=after)
            .values_list("clinic_id")
        )

    prepared = PreparedQuery(build, user_id=int, clinic_id=int, role=str, since=datetime.date, after=datetime.datetime)
    values = {
        "user_id": small_world.biller.pk,
        "clinic_id": 0,
        "role": "",
        "since": datetime.date(2000, 1, 1),
        "after": datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
    }
    assert prepared.rows(**values) == list(build(**values)) != []
    with pytest.raises(TypeError, match="bytes"):
        PreparedQuery(build, user_id=bytes)
