"""What every page asks besides its own content (issue 16): the session, the second factor owed, the places for
"Byt klinik", the service windows, the membership of a clinic or a region page. Each is a query compiled once per
process (portal.db.PreparedQuery); these tests show that each still answers for the request's own user and follows
every change at once."""

import datetime

import pytest
from axes.models import AccessLog
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.http import Http404
from django.test import Client as DjangoClient
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinics.models import (
    Clinic,
    ClinicMembership,
    ClinicRole,
    Organisation,
    OrganisationMembership,
    RegionMembership,
    RegionRole,
)
from portal.access import _region_memberships, clinic_membership_for, organisation_view
from portal.context_processors import portal
from portal.models import ServiceWindow
from portal.service_windows import service_window_occurrences
from portal.sessions import LOGGED_IN_AT, SessionStore
from portal.two_factor import next_step_url

from ..clinics.factories import ClinicFactory, ClinicMembershipFactory, RegionMembershipFactory, UserFactory
from ..identity import log_in
from .orm_read import assert_read_as_the_orm

pytestmark = pytest.mark.django_db


def _request(user):
    """A request of a session that has given no second factor (a password only)."""
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    return request


def test_the_second_factor_owed_is_one_query_and_follows_each_change(small_world, django_assert_num_queries):
    biller = small_world.biller
    region = small_world.region
    with django_assert_num_queries(1):
        assert next_step_url(_request(biller)) is None
    region.clinic_two_factor_required = True
    region.save(update_fields=["clinic_two_factor_required"])
    with django_assert_num_queries(1):
        assert next_step_url(_request(biller)) == "/logga-in/tvastegsverifiering/"
    TOTPDevice.objects.create(user=biller, name="App", confirmed=True)
    assert next_step_url(_request(biller)) == "/logga-in/kod/"


def test_every_region_role_and_the_system_administrator_owe_a_second_factor(small_world):
    enrol = "/logga-in/tvastegsverifiering/"
    assert next_step_url(_request(small_world.coordinator)) == enrol
    assert next_step_url(_request(small_world.region_admin)) == enrol
    assert next_step_url(_request(UserFactory(is_system_admin=True))) == enrol
    assert next_step_url(_request(UserFactory())) is None
    # Another user's app or role is not this one's.
    TOTPDevice.objects.create(user=small_world.coordinator, name="App", confirmed=True)
    assert next_step_url(_request(small_world.admin)) is None


def _other_places(user) -> bool:
    return bool(portal(_request(user))["has_other_places"])


def test_byt_klinik_follows_the_persons_places(small_world):
    admin = small_world.admin  # one clinic
    assert not _other_places(admin)
    membership = ClinicMembershipFactory(user=admin, clinic=small_world.other_clinic, role=ClinicRole.BILLER)
    assert _other_places(admin)
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    assert not _other_places(admin)
    # Two roles in one region are one place; a second region is another.
    coordinator = small_world.coordinator
    RegionMembershipFactory(user=coordinator, region=small_world.region, role=RegionRole.REGION_ADMIN)
    assert not _other_places(coordinator)
    RegionMembershipFactory(user=coordinator, region=small_world.other_region)
    assert _other_places(coordinator)
    assert _other_places(small_world.biller)  # two clinics


def test_the_service_windows_are_one_query_when_none_is_near_and_seen_at_once_when_one_is(
    small_world, django_assert_num_queries
):
    now = timezone.now()
    with django_assert_num_queries(1):
        assert service_window_occurrences(now) == []
    later = ServiceWindow.objects.create(
        region=None,
        created_by=small_world.coordinator,
        message="Uppgradering",
        starts_at=now + datetime.timedelta(days=30),
        ends_at=now + datetime.timedelta(days=30, hours=2),
    )
    assert service_window_occurrences(now) == []  # beyond the three weeks announced
    soon = ServiceWindow.objects.create(
        region=small_world.region,
        created_by=small_world.coordinator,
        message="Byte av server",
        starts_at=now + datetime.timedelta(hours=1),
        ends_at=now + datetime.timedelta(hours=2),
    )
    assert [o.window for o in service_window_occurrences(now)] == [soon]
    assert [o.window for o in service_window_occurrences(now + datetime.timedelta(days=29, hours=23))] == [later]


def test_the_session_store_reads_a_live_session_and_nothing_else(db, django_assert_num_queries):
    store = SessionStore()
    store["answer"] = 42
    store.save()
    with django_assert_num_queries(1):
        assert SessionStore(store.session_key).load() == {"answer": 42}
    unknown = SessionStore("x" * 32)
    assert unknown.load() == {} and unknown.session_key is None
    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now())
    expired = SessionStore(store.session_key)
    assert expired.load() == {} and expired.session_key is None


def test_the_test_clients_force_login_leaves_djangos_session_in_4_queries_and_axes_on(small_world, client):
    """tests.identity.Client (the `client` fixture): the session force_login leaves is the one Django's leaves (the
    user, the backend, the hash, the login time), read as logged in and verified on the next request, stored in
    4 queries; axes stays on for the login form."""
    django_client = DjangoClient()
    django_client.force_login(small_world.biller)
    with CaptureQueriesContext(connection) as queries:
        client.force_login(small_world.biller)
    assert len(queries) == 4
    ours, djangos = client.session, django_client.session
    assert ours.keys() == djangos.keys() and LOGGED_IN_AT in ours
    for key in ("_auth_user_id", "_auth_user_backend", "_auth_user_hash"):
        assert ours[key] == djangos[key]
    assert client.get("/").wsgi_request.user == small_world.biller
    response = client.get(f"/klinik/{small_world.clinic.pk}/")
    assert response.status_code == 200

    client.force_login(small_world.admin)  # another user on the same client: Django's own path
    assert client.get("/").wsgi_request.user == small_world.admin
    assert settings.AXES_ENABLED
    AccessLog.objects.all().delete()
    client.logout()
    log_in(client, small_world.biller.email, "tandvard-test")
    assert AccessLog.objects.filter(username=small_world.biller.email).exists()


def test_a_clinic_page_reads_the_membership_with_its_clinic_and_region_as_the_orm_in_one_query(
    small_world, django_assert_num_queries
):
    biller, clinic = small_world.biller, small_world.clinic
    orm = ClinicMembership.objects.select_related("clinic__region").get(user=biller, clinic=clinic)
    with django_assert_num_queries(1):
        membership = clinic_membership_for(biller, clinic.pk)
    with django_assert_num_queries(0):
        pairs = [
            (membership, orm),
            (membership.clinic, orm.clinic),
            (membership.clinic.region, orm.clinic.region),
        ]
    for got, expected in pairs:
        assert_read_as_the_orm(got, expected)
    # Each user's own, of that clinic, only while both are active; no answer for an id no clinic can have.
    assert clinic_membership_for(biller, small_world.other_clinic.pk).clinic == small_world.other_clinic
    for user, clinic_pk in [
        (small_world.other_region_biller, clinic.pk),
        (biller, small_world.other_region_clinic.pk),
        (biller, 2**70),
    ]:
        with pytest.raises(Http404):
            clinic_membership_for(user, clinic_pk)
    ClinicMembership.objects.filter(pk=orm.pk).update(is_active=False)
    with pytest.raises(Http404):
        clinic_membership_for(biller, clinic.pk)
    other = small_world.other_clinic
    other.is_active = False
    other.save(update_fields=["is_active"])
    with pytest.raises(Http404):
        clinic_membership_for(biller, other.pk)


def test_a_region_page_reads_the_roles_with_the_region_as_the_orm_in_one_query(small_world, django_assert_num_queries):
    user, region = small_world.coordinator, small_world.region
    RegionMembershipFactory(user=user, region=region, role=RegionRole.REGION_ADMIN)
    RegionMembershipFactory(user=user, region=small_world.other_region)
    orm = sorted(RegionMembership.objects.select_related("region").filter(user=user, region=region), key=lambda m: m.pk)
    with django_assert_num_queries(1):
        memberships = sorted(_region_memberships(user, region.code), key=lambda m: m.pk)
        pairs = [(m, o) for m, o in zip(memberships, orm, strict=True)] + [
            (m.region, o.region) for m, o in zip(memberships, orm, strict=True)
        ]
    assert len(memberships) == 2
    for got, expected in pairs:
        assert_read_as_the_orm(got, expected)
    assert _region_memberships(small_world.biller, region.code) == []
    assert _region_memberships(user, "no-such-region") == []
    RegionMembership.objects.filter(user=user, region=region, role=RegionRole.REGION_ADMIN).update(is_active=False)
    assert [m.role for m in _region_memberships(user, region.code)] == [RegionRole.COORDINATOR]


def _umbrella(small_world) -> OrganisationMembership:
    """An organisation over the world's two clinics and a third, inactive one; its biller and its Ekonomi user."""
    organisation = Organisation.objects.create(
        region=small_world.region, name="Paraply", organisation_number="5566778899"
    )
    closed = ClinicFactory(region=small_world.region, is_active=False)
    Clinic.objects.filter(pk__in=[small_world.clinic.pk, small_world.other_clinic.pk, closed.pk]).update(
        organisation=organisation
    )
    OrganisationMembership.objects.create(user=UserFactory(), organisation=organisation, role=ClinicRole.FINANCE)
    return OrganisationMembership.objects.create(user=UserFactory(), organisation=organisation, role=ClinicRole.BILLER)


def test_an_organisations_user_is_a_member_of_its_active_clinics_in_two_queries(small_world, django_assert_num_queries):
    organisation_membership = _umbrella(small_world)
    user, clinic = organisation_membership.user, small_world.clinic
    orm = Clinic.objects.select_related("region").get(pk=clinic.pk)
    with django_assert_num_queries(2):  # no own membership, then the organisation's
        membership = clinic_membership_for(user, clinic.pk)
    assert (membership.pk, membership.role, membership.is_active) == (None, ClinicRole.BILLER, True)
    assert membership.organisation_id == organisation_membership.organisation_id
    with django_assert_num_queries(0):
        assert membership.user == user
        assert_read_as_the_orm(membership.clinic, orm)
        assert_read_as_the_orm(membership.clinic.region, orm.region)
    closed = Clinic.objects.get(organisation=organisation_membership.organisation, is_active=False)
    for user_, clinic_pk in [
        (user, closed.pk),
        (user, small_world.other_region_clinic.pk),
        (small_world.other_region_biller, clinic.pk),
    ]:
        with pytest.raises(Http404):
            clinic_membership_for(user_, clinic_pk)
    organisation_membership.is_active = False
    organisation_membership.save(update_fields=["is_active"])
    with pytest.raises(Http404):
        clinic_membership_for(user, clinic.pk)
    # A member of the clinic itself keeps their own role.
    ClinicMembershipFactory(user=user, clinic=clinic, role=ClinicRole.LOCAL_ADMIN)
    assert clinic_membership_for(user, clinic.pk).role == ClinicRole.LOCAL_ADMIN


def test_an_organisation_page_reads_the_membership_and_the_active_clinics_as_the_orm(
    small_world, django_assert_num_queries
):
    organisation_membership = _umbrella(small_world)
    user, organisation = organisation_membership.user, organisation_membership.organisation
    seen = {}

    @organisation_view
    def page(request):
        seen.update(vars(request))
        return None

    request = RequestFactory().get("/")
    request.user = user
    with django_assert_num_queries(2):
        page(request, organisation_pk=organisation.pk)
    orm = OrganisationMembership.objects.select_related("organisation__region").get(pk=organisation_membership.pk)
    clinics = list(Clinic.objects.of_region(organisation.region_id).filter(organisation=organisation, is_active=True))
    with django_assert_num_queries(0):
        assert_read_as_the_orm(seen["organisation_membership"], orm)
        assert_read_as_the_orm(seen["organisation"], orm.organisation)
        assert seen["organisation_membership"].organisation is seen["organisation"]
        assert_read_as_the_orm(seen["organisation"].region, orm.organisation.region)
        assert {c.pk for c in clinics} == {small_world.clinic.pk, small_world.other_clinic.pk}
        for got, expected in zip(seen["organisation_clinics"], clinics, strict=True):
            assert_read_as_the_orm(got, expected)
            assert got.region is seen["organisation"].region
    assert seen["clinic"] is None
    for user_ in (small_world.biller, UserFactory()):
        request.user = user_
        with pytest.raises(Http404):
            page(request, organisation_pk=organisation.pk)
