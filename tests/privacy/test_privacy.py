"""Consent to other use of the e-mail address (with history) and the extract of a person's data."""

import json

import pytest
from axes.models import AccessLog
from django.urls import reverse

from clinics.models import ClinicRole
from notifications.models import NotificationPreference
from portal.audit import audit_record
from portal.models import AccessLogEntry, AuditEvent
from privacy import services
from privacy.models import EmailConsent
from tests.clinics.factories import ClinicMembershipFactory, UserFactory


def test_no_answer_is_no_consent_and_each_change_is_kept(client, small_world):
    user = UserFactory()
    client.force_login(user)
    page = client.get(reverse("account_privacy")).content.decode()
    assert "inte angivet (inget samtycke)" in page
    assert client.post(reverse("account_privacy"), {}).status_code == 200  # "Välj ja eller nej."
    assert not EmailConsent.objects.exists()
    client.post(reverse("account_privacy"), {"consent": "yes"})
    client.post(reverse("account_privacy"), {"consent": "yes"})  # the same answer again: nothing new
    client.post(reverse("account_privacy"), {"consent": "no"})
    history = list(EmailConsent.objects.filter(user=user).order_by("pk").values_list("given", "recorded_by"))
    assert history == [(True, user.pk), (False, user.pk)]
    assert services.email_consent_current(user).given is False
    actions = list(
        AuditEvent.objects.filter(object_type="clinics.user", object_id=str(user.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["privacy.email_consent.given", "privacy.email_consent.withdrawn"]
    page = client.get(reverse("account_privacy")).content.decode()
    assert "Dina svar" in page and page.count(user.email) >= 2


def test_consenting_lists_only_those_whose_latest_answer_is_yes(small_world):
    yes, no, changed, silent = (UserFactory() for _ in range(4))
    services.email_consent_set(actor=yes, user=yes, given=True)
    services.email_consent_set(actor=no, user=no, given=False)
    services.email_consent_set(actor=changed, user=changed, given=True)
    services.email_consent_set(actor=changed, user=changed, given=False)
    assert services.email_consenting([yes, no, changed, silent]) == {yes.pk}


def test_mitt_konto_links_to_the_consent(client, small_world):
    client.force_login(UserFactory())
    assert reverse("account_privacy") in client.get(reverse("account")).content.decode()


@pytest.fixture
def busy_person(small_world):
    """A local administrator who has consented, chosen notifications, logged in, changed things and seen a patient."""
    user = UserFactory(email="lisa@klinik.test", name="Lisa Lokal")
    ClinicMembershipFactory(user=user, clinic=small_world.clinic, role=ClinicRole.LOCAL_ADMIN)
    services.email_consent_set(actor=user, user=user, given=True)
    NotificationPreference.objects.create(user=user, kind="question_asked", email=False)
    AccessLog.objects.create(username="lisa@klinik.test", ip_address="192.0.2.4", user_agent="Firefox", path_info="/")
    AccessLog.objects.create(username="someone@else.test", ip_address="192.0.2.5", user_agent="Edge", path_info="/")
    AccessLogEntry.objects.create(
        user=user,
        role="local_admin",
        clinic=small_world.clinic,
        region=small_world.region,
        personal_identity_number="200001012384",
        shown="Sök person",
    )
    return user


def test_the_extract_holds_the_persons_data_and_no_patients_number(client, busy_person, small_world):
    other = UserFactory()
    from django.db import transaction

    with transaction.atomic():
        audit_record(actor=other, action="portal.account.name_changed", obj=other)
    client.force_login(busy_person)
    response = client.get(reverse("account_extract"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="tandportalen-mina-uppgifter-')
    text = response.content.decode()
    data = json.loads(text)
    assert data["account"]["email"] == "lisa@klinik.test" and data["account"]["name"] == "Lisa Lokal"
    assert [(r["clinic_number"], r["role"]) for r in data["clinic_roles"]] == [
        (small_world.clinic.number, "local_admin")
    ]
    assert [c["given"] for c in data["email_consent"]] == [True]
    assert data["notification_email"]["question_asked"]["email"] is False
    assert [login["browser"] for login in data["logins"] if login["browser"] != "<unknown>"] == [
        "Firefox"
    ]  # and force_login's
    assert [entry["page"] for entry in data["patient_data_shown"]] == ["Sök person"]
    assert "200001012384" not in text and "password" not in text and "pbkdf2" not in text and "md5$" not in text
    assert {e["action"] for e in data["changes_made"]} >= {"privacy.email_consent.given"}
    assert all(e["object_id"] != str(other.pk) for e in data["changes_made"])
    assert "privacy.email_consent.given" in {e["action"] for e in data["changes_to_your_account"]}
    # The download itself is recorded.
    assert AuditEvent.objects.filter(action="privacy.extract.downloaded", actor=busy_person).count() == 1


def test_the_extract_follows_an_earlier_address(client, busy_person):
    from django.db import transaction

    with transaction.atomic():
        audit_record(
            actor=busy_person,
            action="portal.account.email_changed",
            obj=busy_person,
            before={"email": "lisa.old@klinik.test"},
            after={"email": busy_person.email},
        )
    AccessLog.objects.create(username="lisa.old@klinik.test", ip_address="192.0.2.9", user_agent="Old", path_info="/")
    client.force_login(busy_person)
    data = client.get(reverse("account_extract")).json()
    assert {login["browser"] for login in data["logins"]} >= {"Firefox", "Old"}


def test_signed_out_gets_the_login(client, db):
    assert client.get(reverse("account_extract"))["Location"].startswith("/logga-in/")
