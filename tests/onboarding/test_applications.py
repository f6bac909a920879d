"""Ansök om anslutning: the state table, the confirmation link, the throttle, approval (exactly one clinic, also
under two approvals at once) and rejection with its e-mail."""

import re
import threading

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connections
from django.urls import reverse

from clinics.models import Clinic, ClinicInvitation, ClinicMembership, ClinicRole, RegionRole, User
from onboarding import services
from onboarding.models import APPLICATION_TRANSITIONS, ApplicationState, ClinicApplication
from portal.models import AuditEvent
from tests.clinics.factories import ClinicFactory, RegionMembershipFactory, UserFactory

from .factories import application_data, application_post


@pytest.fixture
def region_admin(small_world):
    return RegionMembershipFactory(region=small_world.region, role=RegionRole.REGION_ADMIN).user


def _confirmed(region, **changes) -> ClinicApplication:
    application = services.application_submit(data=application_data(region, **changes), address="192.0.2.1")
    return services.application_confirm(application=application)


def test_the_state_table():
    assert dict(APPLICATION_TRANSITIONS) == {
        "unconfirmed": frozenset({"confirmed"}),
        "confirmed": frozenset({"approved", "rejected"}),
        "approved": frozenset(),
        "rejected": frozenset(),
    }
    assert not APPLICATION_TRANSITIONS.allows("unconfirmed", "approved")
    assert not APPLICATION_TRANSITIONS.allows("rejected", "approved")


def test_submitting_makes_no_account_and_mails_a_link_that_confirms(client, small_world, commits):
    users_before = User.objects.count()
    with commits():
        response = client.post(reverse("application_new"), application_post(small_world.region))
    assert response.status_code == 302
    application = ClinicApplication.objects.get()
    assert application.state == ApplicationState.UNCONFIRMED
    assert application.organisation_number == application_data(small_world.region)["organisation_number"]
    assert application.account_number == "5551239"
    assert User.objects.count() == users_before and not Clinic.objects.filter(name="Tandvården Nystad").exists()
    assert [m.to for m in mail.outbox] == [["anna@nystad.test"]]
    link = re.search(r"http\S+/ansok-om-anslutning/bekrafta/\S+/", mail.outbox[0].body).group(0)
    path = link.split("127.0.0.1:8000", 1)[1] if "127.0.0.1:8000" in link else link
    # Opening the link (a mail scanner, too) changes nothing; its button confirms.
    assert client.get(path).status_code == 200
    application.refresh_from_db()
    assert application.state == ApplicationState.UNCONFIRMED
    response = client.post(path)
    assert "Ansökan är bekräftad" in response.content.decode()
    application.refresh_from_db()
    assert application.state == ApplicationState.CONFIRMED and application.confirmed_at is not None
    assert User.objects.count() == users_before
    actions = list(
        AuditEvent.objects.filter(object_type="onboarding.clinicapplication").values_list("action", flat=True)
    )
    assert sorted(actions) == ["onboarding.application.confirmed", "onboarding.application.submitted"]


def test_a_forged_or_changed_link_confirms_nothing(client, small_world):
    application = services.application_submit(data=application_data(small_world.region))
    token = services.application_token(application)
    response = client.post(reverse("application_confirm", kwargs={"token": token[:-2] + "xx"}))
    assert "Länken är ogiltig" in response.content.decode()
    application.refresh_from_db()
    assert application.state == ApplicationState.UNCONFIRMED


def test_the_region_administrators_are_told_of_a_confirmed_application(small_world, region_admin, commits):
    RegionMembershipFactory(region=small_world.region, role=RegionRole.COORDINATOR)
    application = services.application_submit(data=application_data(small_world.region))
    with commits():
        services.application_confirm(application=application)
    assert [m.to for m in mail.outbox] == [[region_admin.email]]
    assert f"/ansokningar/{application.pk}/" in mail.outbox[0].body


def test_every_number_is_checked_and_the_form_keeps_what_was_typed(client, small_world):
    post = application_post(
        small_world.region, organisation_number="556123-4560", gln="7350000000017", account_number="555-1238"
    )
    post["hsa_id"] = "SE123"
    response = client.post(reverse("application_new"), post)
    page = response.content.decode()
    assert response.status_code == 200
    assert "GLN har fel kontrollsiffra." in page
    assert "Bankgironumret har fel kontrollsiffra." in page
    assert "HSA-id ska skrivas SE" in page
    assert 'value="7350000000017"' in page and 'value="Tandvården Nystad"' in page
    assert not ClinicApplication.objects.exists() and not mail.outbox


def test_the_throttle_per_address(client, small_world, commits):
    for n in range(services.APPLICATIONS_PER_ADDRESS_PER_HOUR):
        with commits():
            response = client.post(
                reverse("application_new"),
                application_post(small_world.region, agreement_owner_email=f"a{n}@x.test"),
            )
        assert response.status_code == 302
    response = client.post(
        reverse("application_new"), application_post(small_world.region, agreement_owner_email="new@x.test")
    )
    assert response.status_code == 429
    assert "för många ansökningar" in response.content.decode()
    assert ClinicApplication.objects.count() == services.APPLICATIONS_PER_ADDRESS_PER_HOUR
    assert len(mail.outbox) == services.APPLICATIONS_PER_ADDRESS_PER_HOUR
    # From another address the same e-mail goes through.
    response = client.post(
        reverse("application_new"),
        application_post(small_world.region, agreement_owner_email="new@x.test"),
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 302


def test_the_throttle_per_email(small_world):
    for n in range(services.APPLICATIONS_PER_EMAIL_PER_DAY):
        services.application_submit(data=application_data(small_world.region), address=f"198.51.100.{n}")
    with pytest.raises(ValidationError) as refused:
        services.application_submit(
            data=application_data(small_world.region, agreement_owner_email="ANNA@nystad.test"),
            address="203.0.113.9",
        )
    assert refused.value.code == "throttled"
    assert ClinicApplication.objects.count() == services.APPLICATIONS_PER_EMAIL_PER_DAY


def test_approval_makes_the_clinic_with_the_next_number_and_invites_both(small_world, region_admin, commits):
    ClinicFactory(region=small_world.region, number="2007")
    application = _confirmed(small_world.region)
    with commits():
        clinic = services.application_approve(actor=region_admin, application=application)
    assert clinic.number == "2008"
    assert (clinic.name, clinic.gln, clinic.account_number, clinic.payout_email) == (
        "Tandvården Nystad",
        application.gln,
        "5551239",
        "ekonomi@nystad.test",
    )
    roles = dict(ClinicMembership.objects.of_clinic(clinic).values_list("user__email", "role"))
    assert roles == {"lars@nystad.test": ClinicRole.LOCAL_ADMIN, "anna@nystad.test": ClinicRole.AGREEMENT_OWNER}
    assert sorted(m.to[0] for m in mail.outbox) == ["anna@nystad.test", "lars@nystad.test"]
    assert all("/valj-losenord/" in m.body for m in mail.outbox)
    application.refresh_from_db()
    assert (application.state, application.clinic, application.decided_by) == ("approved", clinic, region_admin)
    assert AuditEvent.objects.filter(action="onboarding.application.approved", clinic_id=clinic.pk).count() == 1


def test_approval_takes_a_typed_number_and_refuses_one_in_use(small_world, region_admin):
    ClinicFactory(region=small_world.region, number="55")
    application = _confirmed(small_world.region)
    with pytest.raises(ValidationError) as refused:
        services.application_approve(actor=region_admin, application=application, clinic_number="55")
    assert refused.value.message_dict == {"clinic_number": ["Kliniknummer 55 finns redan i regionen."]}
    clinic = services.application_approve(actor=region_admin, application=application, clinic_number="77")
    assert clinic.number == "77"


def test_one_person_as_both_gets_one_invitation_as_local_admin(small_world, region_admin):
    application = _confirmed(small_world.region, local_admin_email="anna@nystad.test")
    clinic = services.application_approve(actor=region_admin, application=application)
    assert list(ClinicMembership.objects.of_clinic(clinic).values_list("user__email", "role")) == [
        ("anna@nystad.test", ClinicRole.LOCAL_ADMIN)
    ]


def test_an_existing_account_is_invited_not_added(small_world, region_admin):
    existing = UserFactory(email="lars@nystad.test")
    application = _confirmed(small_world.region)
    clinic = services.application_approve(actor=region_admin, application=application)
    invitation = ClinicInvitation.objects.get(user=existing)
    assert (invitation.clinic, invitation.role) == (clinic, ClinicRole.LOCAL_ADMIN)
    assert not ClinicMembership.objects.filter(user=existing).exists()


def test_a_person_with_a_role_in_the_region_stops_the_approval(small_world, region_admin):
    RegionMembershipFactory(region=small_world.region, user=UserFactory(email="lars@nystad.test"))
    application = _confirmed(small_world.region)
    with pytest.raises(ValidationError) as refused:
        services.application_approve(actor=region_admin, application=application)
    assert refused.value.messages[0].startswith("Lokal administratör: Personen har en roll i regionen")
    application.refresh_from_db()
    assert application.state == ApplicationState.CONFIRMED
    assert not Clinic.objects.filter(name="Tandvården Nystad").exists()


def test_an_unconfirmed_application_cannot_be_approved_or_rejected(small_world, region_admin):
    application = services.application_submit(data=application_data(small_world.region))
    with pytest.raises(ValidationError, match="Ansökan kan inte bli godkänd: den är väntar"):
        services.application_approve(actor=region_admin, application=application)
    with pytest.raises(ValidationError):
        services.application_reject(actor=region_admin, application=application, reason="Nej")


def test_a_second_approval_is_refused_and_makes_no_second_clinic(small_world, region_admin):
    application = _confirmed(small_world.region)
    services.application_approve(actor=region_admin, application=application)
    with pytest.raises(ValidationError, match="den är godkänd"):
        services.application_approve(actor=region_admin, application=application)
    assert Clinic.objects.filter(name="Tandvården Nystad").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_make_exactly_one_clinic(transactional_small_world):
    region = transactional_small_world.region
    admins = [RegionMembershipFactory(region=region, role=RegionRole.REGION_ADMIN).user for _ in range(2)]
    application = _confirmed(region)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(actor):
        try:
            barrier.wait(timeout=10)
            services.application_approve(actor=actor, application=application)
            outcomes.append("approved")
        except ValidationError as error:
            outcomes.append(error.messages[0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["Ansökan kan inte bli godkänd: den är godkänd.", "approved"]
    assert Clinic.objects.filter(name="Tandvården Nystad").count() == 1
    assert ClinicMembership.objects.filter(clinic__name="Tandvården Nystad").count() == 2


def test_rejection_needs_a_reason_and_mails_it(client, small_world, region_admin, commits):
    application = _confirmed(small_world.region)
    mail.outbox.clear()
    client.force_login(region_admin)
    url = reverse(
        "region_application_reject", kwargs={"region_code": small_world.region.code, "application_pk": application.pk}
    )
    response = client.post(url, {"reason": ""})
    assert "Skriv skälet till avslaget" in response.content.decode()
    application.refresh_from_db()
    assert application.state == ApplicationState.CONFIRMED
    with commits():
        response = client.post(url, {"reason": "Kliniken saknar vårdgivarregistrering hos IVO."})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.state == ApplicationState.REJECTED
    assert application.reason == "Kliniken saknar vårdgivarregistrering hos IVO."
    assert [m.to for m in mail.outbox] == [["anna@nystad.test"]]
    assert "Kliniken saknar vårdgivarregistrering hos IVO." in mail.outbox[0].body
    assert not Clinic.objects.filter(name="Tandvården Nystad").exists()
    assert AuditEvent.objects.filter(action="onboarding.application.rejected", object_id=str(application.pk)).exists()


def test_the_region_administrator_sees_confirmed_applications_of_their_region_only(client, small_world, region_admin):
    mine = _confirmed(small_world.region, clinic_name="Min klinik")
    services.application_submit(
        data=application_data(small_world.region, clinic_name="Obekräftad", agreement_owner_email="o@x.test")
    )
    _confirmed(small_world.other_region, clinic_name="Annan region", agreement_owner_email="b@x.test")
    client.force_login(region_admin)
    page = client.get(reverse("region_applications", kwargs={"region_code": small_world.region.code}))
    text = page.content.decode()
    assert "Min klinik" in text and "Obekräftad" not in text and "Annan region" not in text
    detail = client.get(
        reverse("region_application_detail", kwargs={"region_code": small_world.region.code, "application_pk": mine.pk})
    )
    assert "Nästa lediga kliniknummer är" in detail.content.decode()


def test_approving_through_the_page(client, small_world, region_admin):
    application = _confirmed(small_world.region)
    client.force_login(region_admin)
    url = reverse(
        "region_application_approve", kwargs={"region_code": small_world.region.code, "application_pk": application.pk}
    )
    response = client.post(url, {"clinic_number": "12a"})
    assert "Kliniknumret får bara innehålla siffror." in response.content.decode()
    response = client.post(url, {"clinic_number": "4242"})
    assert response.status_code == 302
    assert Clinic.objects.of_region(small_world.region).get(number="4242").name == "Tandvården Nystad"
