"""API keys: made and revoked in Klinikadministration by a local administrator, shown once, stored hashed."""

import datetime
import hashlib

import pytest
from django.urls import reverse
from django.utils import timezone

from clinics import services
from clinics.models import ApiKey, ApiKeyState
from portal.models import AuditEvent

from .helpers import call, key_for

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_as_its_hash_with_its_prefix_and_the_secret_is_returned_once(small_world):
    key, secret = key_for(small_world.clinic, actor=small_world.admin)
    assert secret.startswith("tp_") and len(secret) > 40
    assert key.hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.prefix == secret[:12]
    stored = ApiKey.objects.get(pk=key.pk)
    assert secret not in {str(value) for value in stored.__dict__.values()}
    assert key.state() == ApiKeyState.ACTIVE
    assert not key.user.is_active and not key.user.has_usable_password()
    event = AuditEvent.objects.get(action="clinics.api_key.created", object_id=str(key.pk))
    assert event.actor_id == small_world.admin.pk and event.clinic_id == small_world.clinic.pk
    assert secret not in str(event.after)


def test_the_local_administrator_creates_a_key_and_sees_it_once(client, small_world):
    client.force_login(small_world.admin)
    clinic = small_world.clinic
    url = reverse("clinic_api_key_new", kwargs={"clinic_pk": clinic.pk})
    response = client.post(url, {"name": "Journal X", "expires_on": ""})
    assert response.status_code == 200
    key = ApiKey.objects.of_clinic(clinic).get()
    secret = response.context["secret"]
    assert key.hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret in response.content.decode()
    assert "visas bara den här gången" in response.content.decode()
    listing = client.get(reverse("clinic_api_keys", kwargs={"clinic_pk": clinic.pk})).content.decode()
    assert "Journal X" in listing and key.prefix in listing and secret not in listing


def test_an_expiry_date_keeps_the_key_valid_through_that_day(client, small_world):
    client.force_login(small_world.admin)
    last_day = timezone.localdate() + datetime.timedelta(days=10)
    client.post(
        reverse("clinic_api_key_new", kwargs={"clinic_pk": small_world.clinic.pk}),
        {"name": "Tillfällig", "expires_on": last_day.isoformat()},
    )
    key = ApiKey.objects.of_clinic(small_world.clinic).get()
    assert timezone.localtime(key.expires_at).date() == last_day + datetime.timedelta(days=1)
    assert timezone.localtime(key.expires_at).time() == datetime.time.min


def test_a_key_without_a_name_is_refused(client, small_world):
    client.force_login(small_world.admin)
    response = client.post(reverse("clinic_api_key_new", kwargs={"clinic_pk": small_world.clinic.pk}), {"name": ""})
    assert response.status_code == 200 and "secret" not in response.context
    assert not ApiKey.objects.of_clinic(small_world.clinic).exists()


def test_a_biller_may_not_manage_keys(client, small_world):
    client.force_login(small_world.biller)
    assert client.get(reverse("clinic_api_keys", kwargs={"clinic_pk": small_world.clinic.pk})).status_code == 403


def test_revoking_asks_first_then_the_key_answers_401(client, small_world):
    key, secret = key_for(small_world.clinic)
    small_world.tariff()
    assert call(client, "get", "tariffs/current", secret).status_code == 200
    client.force_login(small_world.admin)
    url = reverse("clinic_api_key_revoke", kwargs={"clinic_pk": small_world.clinic.pk, "key_pk": key.pk})
    assert "Återkalla nyckeln" in client.get(url).content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    assert client.post(url).status_code == 302
    key.refresh_from_db()
    assert key.state() == ApiKeyState.REVOKED and key.revoked_by == small_world.admin
    assert AuditEvent.objects.filter(action="clinics.api_key.revoked", object_id=str(key.pk)).exists()
    client.logout()
    response = call(client, "get", "tariffs/current", secret)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"] == "application/problem+json"


def test_another_clinics_key_is_not_found(client, small_world):
    key, _secret = key_for(small_world.other_clinic)
    client.force_login(small_world.admin)
    url = reverse("clinic_api_key_revoke", kwargs={"clinic_pk": small_world.clinic.pk, "key_pk": key.pk})
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_an_expired_key_answers_401(client, small_world):
    key, secret = key_for(small_world.clinic, expires_at=timezone.now() + datetime.timedelta(seconds=30))
    small_world.tariff()
    assert call(client, "get", "tariffs/current", secret).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert call(client, "get", "tariffs/current", secret).status_code == 401


@pytest.mark.parametrize(
    "header", ["Bearer tp_unknown", "Bearer ", "Basic dXNlcjpwYXNz", "tandportal-demo-31", "Bearer " + "x" * 300]
)
def test_an_unknown_or_malformed_key_answers_401(client, small_world, header):
    response = call(client, "get", "tariffs/current", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="tandportal"'


def test_no_key_answers_401_and_a_signed_in_session_does_not_count(client, small_world):
    assert call(client, "get", "tariffs/current").status_code == 401
    client.force_login(small_world.biller)
    assert call(client, "get", "tariffs/current").status_code == 401


def test_last_use_is_written_at_most_once_a_minute(client, small_world):
    key, secret = key_for(small_world.clinic)
    small_world.tariff()
    call(client, "get", "tariffs/current", secret)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    call(client, "get", "tariffs/current", secret)
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - datetime.timedelta(minutes=2))
    call(client, "get", "tariffs/current", secret)
    key.refresh_from_db()
    assert key.last_used_at > first


def test_the_list_shows_each_keys_state_last_use_and_expiry(client, small_world):
    active, _ = key_for(small_world.clinic, name="Aktiv nyckel")
    revoked, _ = key_for(small_world.clinic, name="Gammal nyckel")
    services.api_key_revoke(actor=small_world.admin, key=revoked)
    ApiKey.objects.filter(pk=active.pk).update(
        last_used_at=timezone.make_aware(datetime.datetime(2026, 3, 4, 10, 15)),
        expires_at=timezone.make_aware(datetime.datetime(2099, 1, 1)),
    )
    client.force_login(small_world.admin)
    html = client.get(reverse("clinic_api_keys", kwargs={"clinic_pk": small_world.clinic.pk})).content.decode()
    assert "2026-03-04 10:15" in html and "2099-01-01 00:00" in html
    assert html.count("Återkallad") == 1 and "Aktiv</td>" in html
    revoke_url = reverse("clinic_api_key_revoke", kwargs={"clinic_pk": small_world.clinic.pk, "key_pk": revoked.pk})
    assert revoke_url not in html
