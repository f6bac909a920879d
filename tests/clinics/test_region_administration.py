"""Region administration (issue 15, point 3): clinics added and edited by the region administrator, and the region's
coordinators and administrators invited, given roles and removed, with the region always keeping one administrator."""

import datetime
import threading

import lxml.html
import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from clinics import region_services, services
from clinics.models import (
    AccountChange,
    AccountChangeState,
    Clinic,
    ClinicRole,
    PaymentMethod,
    RegionMembership,
    RegionRole,
    User,
)
from portal.models import AuditEvent
from portal.validators import gs1_check_digit, luhn_check_digit
from tests.clinics.factories import ClinicMembershipFactory, RegionFactory, RegionMembershipFactory, UserFactory


# Invented numbers with valid check digits.
def _luhn(payload: str) -> str:
    return payload + luhn_check_digit(payload)


def _gln(payload: str) -> str:
    return payload + gs1_check_digit(payload)


ORG = _luhn("556677889")
GLN = _gln("735000000001")
BANKGIRO = _luhn("555123")


def _url(region, name, **kwargs):
    return reverse(name, kwargs={"region_code": region.code, **kwargs})


def _clinic_data(**changes) -> dict:
    data = {
        "number": "77",
        "name": "Tandvården Nyby",
        "organisation_number": f"{ORG[:6]}-{ORG[6:]}",
        "gln": GLN,
        "hsa_id": f"SE{ORG}-E77",
        "street_address": "Storgatan 1",
        "postal_code": "123 45",
        "city": "Nyby",
        "phone": "010-123 45 67",
        "email": "info@nyby.test",
        "payment_method": PaymentMethod.BANKGIRO,
        "account_number": f"{BANKGIRO[:3]}-{BANKGIRO[3:]}",
        "payout_email": "ekonomi@nyby.test",
    }
    return data | changes


# Clinics ---------------------------------------------------------------------------------------------------------


def test_the_administrator_adds_a_clinic_with_every_number_checked_and_audited(client, small_world):
    region = small_world.region
    client.force_login(small_world.region_admin)
    response = client.post(_url(region, "region_clinic_new"), _clinic_data())
    assert response.status_code == 302
    clinic = Clinic.objects.get(region=region, number="77")
    assert (clinic.organisation_number, clinic.gln, clinic.account_number, clinic.postal_code) == (
        ORG,
        GLN,
        BANKGIRO,
        "12345",
    )
    assert response["Location"] == _url(region, "region_clinic_detail", clinic_number="77")
    (event,) = AuditEvent.objects.filter(action="clinics.clinic.created", clinic_id=clinic.pk)
    assert event.actor == small_world.region_admin and event.after["account_number"] == BANKGIRO
    page = client.get(response["Location"]).content.decode()
    assert "Klinik tillagd" in page and small_world.region_admin.email in page


def test_the_clinic_list_links_each_clinic_to_its_page(client, small_world):
    """The links are made from one reverse (clinics.views.region_clinics): each is the clinic's page."""
    region = small_world.region
    client.force_login(small_world.region_admin)
    client.post(_url(region, "region_clinic_new"), _clinic_data())
    response = client.get(_url(region, "region_clinics"))
    doc = lxml.html.document_fromstring(response.content)
    links = {a.text_content().strip(): a.get("href") for a in doc.xpath("//main//table/tbody/tr/td[1]/a")}
    clinics = list(Clinic.objects.filter(region=region))
    assert clinics
    assert links == {
        clinic.number: _url(region, "region_clinic_detail", clinic_number=clinic.number) for clinic in clinics
    }
    for href in links.values():
        assert client.get(href).status_code == 200


def test_a_refused_clinic_form_says_why_and_keeps_what_was_typed(client, small_world):
    region = small_world.region
    client.force_login(small_world.region_admin)
    wrong_org = ORG[:-1] + str((int(ORG[-1]) + 1) % 10)
    response = client.post(
        _url(region, "region_clinic_new"),
        _clinic_data(organisation_number=wrong_org, gln="7350000000000", account_number="555-1238", number="7a"),
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "Organisationsnumret har fel kontrollsiffra." in text
    assert "GLN har fel kontrollsiffra." in text
    assert "Bankgironumret har fel kontrollsiffra." in text
    assert "Kliniknumret får bara innehålla siffror." in text
    assert f'value="{wrong_org}"' in text and 'value="Tandvården Nyby"' in text
    assert not Clinic.objects.filter(region=region, name="Tandvården Nyby").exists()


def test_a_clinic_number_is_unique_in_the_region_only(client, small_world):
    taken = small_world.clinic.number
    client.force_login(small_world.region_admin)
    response = client.post(_url(small_world.region, "region_clinic_new"), _clinic_data(number=taken))
    assert f"Kliniknummer {taken} finns redan i regionen." in response.content.decode()
    # Another region may use the same number.
    response = client.post(_url(small_world.other_region, "region_clinic_new"), _clinic_data(number=taken))
    assert response.status_code == 302


def test_an_edit_saves_the_details_and_sends_a_new_account_through_the_four_eyes_flow(client, small_world):
    clinic = small_world.clinic
    old_account = clinic.account_number
    client.force_login(small_world.region_admin)
    ends = (timezone.localdate() + datetime.timedelta(days=90)).isoformat()
    data = _clinic_data(
        number=clinic.number,
        name="Nytt namn",
        organisation_number=clinic.organisation_number,
        gln=clinic.gln,
        hsa_id="",
        payout_email=clinic.payout_email,
        # An end date is not a detail: only a notice (Uppsägning) sets it, with its last billing day.
        ends_on=ends,
    )
    response = client.post(_url(small_world.region, "region_clinic_edit", clinic_number=clinic.number), data)
    assert response.status_code == 302
    clinic.refresh_from_db()
    assert (clinic.name, clinic.ends_on) == ("Nytt namn", None)
    # The account is not changed: a pending change waits for a coordinator or a local administrator.
    assert clinic.account_number == old_account
    change = AccountChange.objects.get(clinic=clinic, state=AccountChangeState.PENDING)
    assert (change.new_account_number, change.requested_by) == (BANKGIRO, small_world.region_admin)
    event = AuditEvent.objects.get(action="clinics.clinic.updated", clinic_id=clinic.pk)
    assert event.after["name"] == "Nytt namn"
    assert "ends_on" not in event.after and "account_number" not in event.after
    # The administrator who asked cannot confirm; a coordinator can.
    with pytest.raises(ValidationError):
        services.account_change_confirm(actor=small_world.region_admin, change=change)
    services.account_change_confirm(actor=small_world.coordinator, change=change)
    clinic.refresh_from_db()
    assert clinic.account_number == BANKGIRO


def test_coordinators_and_other_regions_cannot_add_or_edit_clinics(client, small_world):
    clinic = small_world.clinic
    client.force_login(small_world.coordinator)
    assert client.post(_url(small_world.region, "region_clinic_new"), _clinic_data()).status_code == 403
    edit = _url(small_world.region, "region_clinic_edit", clinic_number=clinic.number)
    assert client.post(edit, _clinic_data(number=clinic.number)).status_code == 403
    client.force_login(small_world.other_region_coordinator)
    assert client.get(edit).status_code == 404
    # Another region's administrator asks for this region's clinic under their own region: 404.
    admin = RegionMembershipFactory(region=small_world.other_region, role=RegionRole.REGION_ADMIN).user
    client.force_login(admin)
    assert (
        client.get(_url(small_world.other_region, "region_clinic_edit", clinic_number=clinic.number)).status_code == 404
    )


# The region's people -------------------------------------------------------------------------------------------------


def test_a_new_person_is_invited_with_a_link_to_choose_a_password(
    client, small_world, mailoutbox, django_capture_on_commit_callbacks
):
    region = small_world.region
    client.force_login(small_world.region_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url(region, "region_person_new"),
            {"name": "Nora Ny", "email": "Nora@Region.test", "role": RegionRole.COORDINATOR},
        )
    assert response.status_code == 302
    user = User.objects.get(email="nora@region.test")
    assert not user.has_usable_password()
    assert RegionMembership.objects.filter(user=user, region=region, role=RegionRole.COORDINATOR, is_active=True)
    (mail,) = mailoutbox
    assert mail.to == ["nora@region.test"]
    assert "Välj ditt lösenord här" in mail.body
    assert AuditEvent.objects.filter(action="clinics.region_user.invited", region_id=region.pk).exists()
    page = client.get(_url(region, "region_people")).content.decode()
    assert "Nora Ny" in page and "Person inbjuden till regionen" in page


def test_a_clinic_user_of_the_region_cannot_get_a_role_in_it_and_the_form_keeps_the_input(client, small_world):
    client.force_login(small_world.region_admin)
    biller = small_world.biller
    response = client.post(
        _url(small_world.region, "region_person_new"),
        {"name": "Fia", "email": biller.email, "role": RegionRole.COORDINATOR},
    )
    text = response.content.decode()
    assert "kan inte ha en roll i samma region" in text
    assert f'value="{biller.email}"' in text
    assert not RegionMembership.objects.filter(user=biller).exists()


def test_a_role_held_already_is_refused(small_world):
    with pytest.raises(ValidationError) as raised:
        region_services.region_user_invite(
            actor=small_world.region_admin,
            region=small_world.region,
            name="x",
            email=small_world.coordinator.email,
            role=RegionRole.COORDINATOR,
        )
    assert raised.value.message_dict["email"] == ["Personen har redan rollen Samordnare i regionen."]


@pytest.fixture
def lone_admin(small_world):
    """A region whose only administrator is `admin`, with a coordinator."""
    region = RegionFactory()
    admin = RegionMembershipFactory(region=region, role=RegionRole.REGION_ADMIN)
    coordinator = RegionMembershipFactory(region=region, role=RegionRole.COORDINATOR)
    return region, admin, coordinator


def test_the_last_administrator_can_be_neither_removed_nor_demoted(lone_admin):
    region, admin, coordinator = lone_admin
    with pytest.raises(ValidationError) as raised:
        region_services.region_membership_remove(actor=admin.user, membership=admin)
    assert raised.value.code == "last_region_admin"
    with pytest.raises(ValidationError):
        region_services.region_membership_change_role(actor=admin.user, membership=admin, role=RegionRole.COORDINATOR)
    admin.refresh_from_db()
    assert admin.is_active and admin.role == RegionRole.REGION_ADMIN
    # With a second administrator, the first may go.
    region_services.region_membership_change_role(
        actor=admin.user, membership=coordinator, role=RegionRole.REGION_ADMIN
    )
    region_services.region_membership_remove(actor=coordinator.user, membership=admin)
    admin.refresh_from_db()
    assert not admin.is_active
    actions = set(AuditEvent.objects.filter(region_id=region.pk).values_list("action", flat=True))
    assert {"clinics.region_role.changed", "clinics.region_role.removed"} <= actions


def test_an_inactive_person_does_not_count_as_the_other_administrator(lone_admin):
    region, admin, _coordinator = lone_admin
    gone = RegionMembershipFactory(region=region, role=RegionRole.REGION_ADMIN, user__is_active=False)
    assert gone.user.is_active is False
    with pytest.raises(ValidationError):
        region_services.region_membership_remove(actor=admin.user, membership=admin)


def test_the_remove_page_shows_the_refusal(client, lone_admin):
    region, admin, _coordinator = lone_admin
    client.force_login(admin.user)
    response = client.post(_url(region, "region_person_remove", region_membership_pk=admin.pk))
    assert response.status_code == 200
    assert "Regionen måste ha minst en aktiv regionadministratör." in response.content.decode()


def test_a_person_removed_from_their_last_role_is_logged_out(lone_admin):
    _region, admin, coordinator = lone_admin
    generation = coordinator.user.session_generation
    region_services.region_membership_remove(actor=admin.user, membership=coordinator)
    coordinator.user.refresh_from_db()
    assert coordinator.user.session_generation == generation + 1


def test_a_role_change_to_a_role_held_before_takes_up_the_old_row(lone_admin):
    region, admin, coordinator = lone_admin
    old = RegionMembership.objects.create(
        user=coordinator.user, region=region, role=RegionRole.REGION_ADMIN, is_active=False
    )
    result = region_services.region_membership_change_role(
        actor=admin.user, membership=coordinator, role=RegionRole.REGION_ADMIN
    )
    assert result.pk == old.pk
    coordinator.refresh_from_db()
    old.refresh_from_db()
    assert (coordinator.is_active, old.is_active) == (False, True)


def test_people_pages_are_the_region_administrators_only(client, small_world):
    membership = RegionMembership.objects.get(user=small_world.coordinator, region=small_world.region)
    client.force_login(small_world.coordinator)
    assert client.get(_url(small_world.region, "region_people")).status_code == 403
    assert (
        client.post(_url(small_world.region, "region_person_remove", region_membership_pk=membership.pk)).status_code
        == 403
    )
    # Another region's membership under this region's URL: 404.
    other = RegionMembershipFactory(region=small_world.other_region, role=RegionRole.COORDINATOR)
    client.force_login(small_world.region_admin)
    assert client.get(_url(small_world.region, "region_person_role", region_membership_pk=other.pk)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_administrators_removing_each_other_at_once_leave_one():
    region = RegionFactory()
    first = RegionMembershipFactory(region=region, role=RegionRole.REGION_ADMIN)
    second = RegionMembershipFactory(region=region, role=RegionRole.REGION_ADMIN)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def remove(name, actor, target):
        try:
            barrier.wait(timeout=10)
            region_services.region_membership_remove(actor=actor.user, membership=target)
            outcomes[name] = "removed"
        except ValidationError as error:
            outcomes[name] = error.code
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=remove, args=("first", first, second)),
        threading.Thread(target=remove, args=("second", second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["last_region_admin", "removed"]
    assert RegionMembership.objects.filter(region=region, role=RegionRole.REGION_ADMIN, is_active=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_administrator_demoted_while_another_is_removed_leaves_one():
    region = RegionFactory()
    first = RegionMembershipFactory(region=region, role=RegionRole.REGION_ADMIN)
    second = RegionMembershipFactory(region=region, role=RegionRole.REGION_ADMIN)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(work):
        try:
            barrier.wait(timeout=10)
            work()
            outcomes.append("done")
        except ValidationError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(
            target=act,
            args=(
                lambda: region_services.region_membership_change_role(
                    actor=second.user, membership=first, role=RegionRole.COORDINATOR
                ),
            ),
        ),
        threading.Thread(
            target=act, args=(lambda: region_services.region_membership_remove(actor=first.user, membership=second),)
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["done", "last_region_admin"]
    assert RegionMembership.objects.filter(region=region, role=RegionRole.REGION_ADMIN, is_active=True).count() == 1


def test_a_clinic_user_membership_factory_is_used(small_world):
    # The duties rule holds for a clinic user invited to the clinic's region as an administrator too.
    user = UserFactory()
    ClinicMembershipFactory(user=user, clinic=small_world.clinic, role=ClinicRole.BILLER)
    with pytest.raises(ValidationError):
        region_services.region_user_invite(
            actor=small_world.region_admin,
            region=small_world.region,
            name="x",
            email=user.email,
            role=RegionRole.REGION_ADMIN,
        )
