"""Separation of duties (nobody bills and pays in the same region) and invitations of existing accounts."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from clinics import services
from clinics.models import ClinicInvitation, ClinicMembership, ClinicRole, RegionRole
from portal.models import AuditEvent

from .factories import ClinicMembershipFactory, RegionMembershipFactory, UserFactory

REGION_ROLE_MESSAGE = "Personen har en roll i regionen och kan inte vara användare på en klinik i samma region."
CLINIC_USER_MESSAGE = "Personen är användare på en klinik i regionen och kan inte ha en roll i samma region."


def test_a_coordinator_cannot_be_added_to_a_clinic_of_their_region(small_world):
    with pytest.raises(ValidationError) as refused:
        services.membership_invite(
            actor=small_world.admin,
            clinic=small_world.clinic,
            name="Sara",
            email=small_world.coordinator.email,
            role=ClinicRole.LOCAL_ADMIN,
        )
    assert refused.value.message_dict == {"email": [REGION_ROLE_MESSAGE]}
    assert not ClinicInvitation.objects.exists()
    assert not ClinicMembership.objects.filter(user=small_world.coordinator).exists()


def test_another_regions_coordinator_may_be_invited(small_world):
    invitation = services.membership_invite(
        actor=small_world.admin,
        clinic=small_world.clinic,
        name="Sune",
        email=small_world.other_region_coordinator.email,
        role=ClinicRole.BILLER,
    )
    assert isinstance(invitation, ClinicInvitation)


def test_a_clinic_user_cannot_get_a_role_in_the_clinics_region(small_world):
    with pytest.raises(ValidationError) as refused:
        services.region_role_grant(
            actor=small_world.region_admin, user=small_world.biller, region=small_world.region, role="coordinator"
        )
    assert refused.value.messages == [CLINIC_USER_MESSAGE]
    granted = services.region_role_grant(
        actor=small_world.region_admin, user=small_world.biller, region=small_world.other_region, role="coordinator"
    )
    assert granted.is_active
    assert AuditEvent.objects.filter(action="clinics.region_role.granted").count() == 1


def test_duties_check_lists_the_conflicts_and_fails(small_world, capsys):
    call_command("duties_check")  # none yet
    assert "Inga konflikter." in capsys.readouterr().out
    both = ClinicMembershipFactory(clinic=small_world.clinic, role=ClinicRole.LOCAL_ADMIN).user
    RegionMembershipFactory(user=both, region=small_world.region, role=RegionRole.COORDINATOR)
    RegionMembershipFactory(user=small_world.biller, region=small_world.other_region)  # another region: fine
    with pytest.raises(CommandError) as failed:
        call_command("duties_check")
    out = capsys.readouterr().out
    assert both.email in out and small_world.clinic.name in out and small_world.region.name in out
    assert small_world.biller.email not in out
    assert "1 konflikt" in str(failed.value)


def test_an_existing_account_is_invited_and_nothing_changes_until_they_accept(
    small_world, mailoutbox, django_capture_on_commit_callbacks
):
    person = UserFactory(name="Ella Existerande")
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.membership_invite(
            actor=small_world.admin, clinic=small_world.clinic, name="E", email=person.email, role=ClinicRole.BILLER
        )
    assert invitation.state == "pending"
    assert not ClinicMembership.objects.filter(user=person).exists()
    assert [m.to for m in mailoutbox] == [[person.email]]
    assert small_world.clinic.name in mailoutbox[0].subject and "/inbjudningar/" in mailoutbox[0].body
    with pytest.raises(ValidationError) as again:
        services.membership_invite(
            actor=small_world.admin, clinic=small_world.clinic, name="E", email=person.email, role=ClinicRole.BILLER
        )
    assert again.value.message_dict == {"email": ["Personen har redan en inbjudan till kliniken som väntar på svar."]}

    with pytest.raises(ValidationError) as not_theirs:
        services.invitation_accept(actor=small_world.biller, invitation=invitation)
    assert not_theirs.value.messages == ["Inbjudan gäller någon annan."]
    membership = services.invitation_accept(actor=person, invitation=invitation)
    assert (membership.clinic, membership.role, membership.is_active) == (small_world.clinic, "biller", True)
    invitation.refresh_from_db()
    assert invitation.state == "accepted" and invitation.decided_at
    with pytest.raises(ValidationError) as twice:
        services.invitation_decline(actor=person, invitation=invitation)
    assert twice.value.messages == ["Inbjudan är redan accepterad."]
    actions = list(AuditEvent.objects.filter(object_id=str(invitation.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["clinics.invitation.accepted", "clinics.invitation.sent"]


def test_a_declined_invitation_gives_no_access(small_world):
    person = UserFactory()
    invitation = services.membership_invite(
        actor=small_world.admin, clinic=small_world.clinic, name="P", email=person.email, role=ClinicRole.LOCAL_ADMIN
    )
    services.invitation_decline(actor=person, invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.state == "declined"
    assert not ClinicMembership.objects.filter(user=person).exists()


def test_acceptance_checks_the_duties_again(small_world):
    person = UserFactory()
    invitation = services.membership_invite(
        actor=small_world.admin, clinic=small_world.clinic, name="P", email=person.email, role=ClinicRole.BILLER
    )
    RegionMembershipFactory(user=person, region=small_world.region)  # became a coordinator meanwhile
    with pytest.raises(ValidationError) as refused:
        services.invitation_accept(actor=person, invitation=invitation)
    assert refused.value.messages == [REGION_ROLE_MESSAGE]
    assert not ClinicMembership.objects.filter(user=person).exists()


def test_a_new_person_keeps_the_set_password_flow(small_world):
    added = services.membership_invite(
        actor=small_world.admin, clinic=small_world.clinic, name="Ny", email="ny@klinik.test", role=ClinicRole.BILLER
    )
    assert isinstance(added, ClinicMembership) and added.is_active


def test_the_demo_has_no_conflict_of_duties(world, capsys):
    call_command("duties_check")
    assert "Inga konflikter." in capsys.readouterr().out
