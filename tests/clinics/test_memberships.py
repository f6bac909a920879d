"""A clinic's users: invitations, role changes, removal, and the last local administrator rule."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import Client

from clinics import services
from clinics.models import ClinicMembership, ClinicRole, User
from portal.models import AuditEvent

from .factories import ClinicFactory, ClinicMembershipFactory


@pytest.fixture
def clinic_with_two_admins(db):
    clinic = ClinicFactory()
    first = ClinicMembershipFactory(clinic=clinic, role=ClinicRole.LOCAL_ADMIN)
    second = ClinicMembershipFactory(clinic=clinic, role=ClinicRole.LOCAL_ADMIN)
    return clinic, first, second


def test_invite_creates_user_without_password_and_membership_and_audits(
    small_world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        membership = services.membership_invite(
            actor=small_world.admin,
            clinic=small_world.clinic,
            name="Ny Person",
            email="Ny.Person@Klinik.test",
            role="biller",
        )
    assert membership.user.email == "ny.person@klinik.test"
    assert not membership.user.has_usable_password()
    assert membership.role == ClinicRole.BILLER and membership.is_active
    actions = list(AuditEvent.objects.filter(clinic_id=small_world.clinic.pk).values_list("action", flat=True))
    assert "clinics.user.created" in actions and "clinics.membership.added" in actions
    assert len(callbacks) == 1  # the e-mail is queued only once the transaction commits


def test_invite_of_someone_already_at_the_clinic_is_refused(small_world):
    with pytest.raises(ValidationError) as error:
        services.membership_invite(
            actor=small_world.admin,
            clinic=small_world.clinic,
            name="Fia",
            email=small_world.biller.email,
            role="biller",
        )
    assert "redan behörighet" in str(error.value)


def test_invite_of_an_existing_user_reuses_the_account_and_invites_it(small_world):
    admin, existing = small_world.admin, small_world.other_region_biller  # made before the count
    before = User.objects.count()
    invitation = services.membership_invite(
        actor=admin, clinic=small_world.clinic, name="Dan", email=existing.email, role="biller"
    )
    assert User.objects.count() == before
    assert invitation.user == existing and invitation.state == "pending"
    assert not ClinicMembership.objects.filter(user=existing, clinic=small_world.clinic).exists()


def test_invitation_email_has_a_working_set_password_link(
    small_world, client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_invite(
            actor=small_world.admin, clinic=small_world.clinic, name="Ny Person", email="ny@klinik.test", role="biller"
        )
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["ny@klinik.test"]
    assert small_world.clinic.name in message.subject
    link = next(line for line in message.body.splitlines() if "/valj-losenord/" in line).strip()
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url, {"new_password1": "Ett-bra-lösenord-42", "new_password2": "Ett-bra-lösenord-42"}, follow=True
    )
    assert response.status_code == 200
    user = User.objects.get(email="ny@klinik.test")
    assert user.check_password("Ett-bra-lösenord-42")
    # post_reset_login: the person lands on their clinic, logged in
    assert response.redirect_chain[-1][0] == f"/klinik/{small_world.clinic.pk}/"


def test_change_role_audits_before_and_after(clinic_with_two_admins):
    _, first, second = clinic_with_two_admins
    services.membership_change_role(actor=first.user, membership=second, role=ClinicRole.BILLER)
    second.refresh_from_db()
    assert second.role == ClinicRole.BILLER
    event = AuditEvent.objects.get(action="clinics.membership.role_changed")
    assert event.before == {"role": "local_admin"} and event.after == {"role": "biller"}
    assert event.actor == first.user


def test_last_local_admin_cannot_be_demoted_or_removed(clinic_with_two_admins):
    _, first, second = clinic_with_two_admins
    services.membership_remove(actor=first.user, membership=second)
    with pytest.raises(ValidationError) as demote:
        services.membership_change_role(actor=first.user, membership=first, role=ClinicRole.BILLER)
    with pytest.raises(ValidationError) as remove:
        services.membership_remove(actor=first.user, membership=first)
    assert demote.value.code == remove.value.code == "last_local_admin"
    first.refresh_from_db()
    assert first.is_active and first.role == ClinicRole.LOCAL_ADMIN


def test_removal_keeps_the_membership_inactive_for_the_record(clinic_with_two_admins):
    _, first, second = clinic_with_two_admins
    services.membership_remove(actor=first.user, membership=second)
    second.refresh_from_db()
    assert second.is_active is False
    assert AuditEvent.objects.filter(action="clinics.membership.removed", object_id=str(second.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin():
    clinic = ClinicFactory()
    first = ClinicMembershipFactory(clinic=clinic, role=ClinicRole.LOCAL_ADMIN)
    second = ClinicMembershipFactory(clinic=clinic, role=ClinicRole.LOCAL_ADMIN)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def demote(name, actor, target):
        try:
            barrier.wait(timeout=10)
            services.membership_change_role(actor=actor.user, membership=target, role=ClinicRole.BILLER)
            outcomes[name] = "demoted"
        except ValidationError as error:
            outcomes[name] = error.code
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=demote, args=("first", first, second)),
        threading.Thread(target=demote, args=("second", second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["demoted", "last_local_admin"]
    assert ClinicMembership.objects.filter(clinic=clinic, role=ClinicRole.LOCAL_ADMIN, is_active=True).count() == 1


# A removed person's sessions ----------------------------------------------------------------------------------


def _logged_in(user):
    browser = Client()
    browser.force_login(user)
    assert browser.get("/")["Location"] != "/logga-in/?next=/"
    return browser


def test_a_person_removed_from_their_last_clinic_is_logged_out_at_once(clinic_with_two_admins):
    clinic, first, second = clinic_with_two_admins
    phone, laptop = _logged_in(second.user), _logged_in(second.user)

    services.membership_remove(actor=first.user, membership=second)

    for browser in (phone, laptop):
        response = browser.get(f"/klinik/{clinic.pk}/")
        assert response.status_code == 302 and response["Location"].startswith("/logga-in/")
        assert "_auth_user_id" not in browser.session
    assert _logged_in(first.user).get(f"/klinik/{clinic.pk}/").status_code == 200  # the others go on


def test_a_person_with_another_clinic_keeps_their_session_there(clinic_with_two_admins):
    clinic, first, second = clinic_with_two_admins
    other = ClinicMembershipFactory(user=second.user, role=ClinicRole.BILLER)
    browser = _logged_in(second.user)

    services.membership_remove(actor=first.user, membership=second)

    assert browser.get(f"/klinik/{clinic.pk}/").status_code == 404
    assert browser.get(f"/klinik/{other.clinic.pk}/").status_code == 200


def test_a_session_from_before_the_generation_stays_valid_until_it_is_raised(db):
    user = ClinicMembershipFactory().user
    assert user.session_generation == 0
    before = user.get_session_auth_hash()
    # Django's own hash while the generation is 0: sessions logged in before the field existed stay.
    assert before == super(User, user)._get_session_auth_hash()
    services.user_sessions_end(user=user)
    user.refresh_from_db()
    assert user.get_session_auth_hash() != before
