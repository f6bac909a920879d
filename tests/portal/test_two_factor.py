"""Two-factor authentication: enrolment on first login, the code after the password, recovery codes, who must."""

import re

from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import two_factor
from portal.demo.two_factor import DEMO_TOTP_SECRET
from portal.models import AuditEvent
from tests.clinics.factories import RegionMembershipFactory, UserFactory
from tests.identity import PASSWORD_BACKEND, totp_code

PASSWORD = "tandvard-test"
SECRET = "JBSWY3DPEHPK3PXP"


def _password(client, user, next_url=""):
    data = {"username": user.email, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/logga-in/", data)


def two_factor_codes(user):
    with transaction.atomic():
        return two_factor.recovery_codes_renew(user=user)


def _app(user):
    return TOTPDevice.objects.create(user=user, name="App", key=two_factor.hex_key(SECRET), confirmed=True)


def test_the_demo_secret_is_the_published_base32_key():
    assert two_factor.hex_key(DEMO_TOTP_SECRET) == "48656c6c6f21deadbeef"  # b"Hello!\xde\xad\xbe\xef"
    device = TOTPDevice(key=two_factor.hex_key(DEMO_TOTP_SECRET))
    assert two_factor.base32_secret(device) == DEMO_TOTP_SECRET


def test_a_coordinator_enrols_on_first_login_and_gets_recovery_codes_once(client, small_world):
    coordinator = small_world.coordinator
    response = _password(client, coordinator, next_url=f"/region/{small_world.region.code}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/logga-in/tvastegsverifiering/")
    # Every other page waits for the second factor.
    assert client.get(f"/region/{small_world.region.code}/")["Location"].startswith("/logga-in/tvastegsverifiering/")

    page = client.get(response["Location"])
    body = page.content.decode()
    assert page.status_code == 200 and "Aktivera tvåstegsverifiering" in body
    assert "<svg" in body and "style=" not in body.split("<svg", 1)[1].split("</svg>", 1)[0]
    pending = TOTPDevice.objects.get(user=coordinator, confirmed=False)
    secret = two_factor.base32_secret(pending)
    assert two_factor.grouped(secret) in body
    assert client.get(response["Location"]).content.decode().count(two_factor.grouped(secret)) == 1  # same key

    wrong = client.post("/logga-in/tvastegsverifiering/", {"code": "000000"})
    assert "Koden stämmer inte." in wrong.content.decode()
    TOTPDevice.objects.filter(pk=pending.pk).update(throttling_failure_count=0)  # django-otp's 1 s wait
    done = client.post(
        f"/logga-in/tvastegsverifiering/?next=/region/{small_world.region.code}/",
        {"code": totp_code(coordinator, pending)},
    )

    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == 10
    assert set(StaticToken.objects.filter(device__user=coordinator).values_list("token", flat=True)) == set(codes)
    assert TOTPDevice.objects.get(pk=pending.pk).confirmed
    assert client.get(f"/region/{small_world.region.code}/").status_code == 200
    assert AuditEvent.objects.filter(action="portal.two_factor.added", object_id=str(coordinator.pk)).exists()


def test_a_coordinator_with_an_app_gives_the_code_after_the_password(client, small_world):
    coordinator = small_world.coordinator
    _app(coordinator)
    region_page = f"/region/{small_world.region.code}/"

    response = _password(client, coordinator, next_url=region_page)
    assert response["Location"] == f"/logga-in/kod/?next={region_page.replace('/', '%2F')}"
    assert client.get(region_page)["Location"].startswith("/logga-in/kod/")

    response = client.post(response["Location"], {"code": totp_code(coordinator), "next": region_page})
    assert response.status_code == 302 and response["Location"] == region_page
    assert client.get(region_page).status_code == 200


def test_a_code_is_accepted_only_once(client, small_world):
    coordinator = small_world.coordinator
    _app(coordinator)
    code = totp_code(coordinator)
    _password(client, coordinator)
    assert client.post("/logga-in/kod/", {"code": code}).status_code == 302
    client.logout()

    _password(client, coordinator)
    again = client.post("/logga-in/kod/", {"code": code})
    assert again.status_code == 200 and "Koden stämmer inte." in again.content.decode()


def test_a_recovery_code_works_once(client, small_world):
    coordinator = small_world.coordinator
    _app(coordinator)
    codes = two_factor_codes(coordinator)
    _password(client, coordinator)
    assert client.post("/logga-in/kod/", {"code": codes[0].upper()}).status_code == 302
    assert AuditEvent.objects.filter(action="portal.recovery_code.used").count() == 1
    client.logout()

    _password(client, coordinator)
    assert client.post("/logga-in/kod/", {"code": codes[0]}).status_code == 200
    # django-otp then makes the device wait a second before the next try (its own throttling): let it pass.
    StaticDevice.objects.filter(user=coordinator).update(throttling_failure_count=0)
    assert client.post("/logga-in/kod/", {"code": codes[1]}).status_code == 302


def test_a_clinic_user_logs_in_with_the_password_alone(client, small_world):
    response = _password(client, small_world.biller)

    assert response.status_code == 302 and not response["Location"].startswith("/logga-in/")
    assert client.session[SESSION_KEY] == str(small_world.biller.pk)


def test_a_region_can_require_two_factor_authentication_for_its_clinics(client, small_world):
    biller = small_world.biller
    small_world.region.clinic_two_factor_required = True
    small_world.region.save(update_fields=["clinic_two_factor_required"])

    response = _password(client, biller)

    assert response["Location"].startswith("/logga-in/tvastegsverifiering/")
    assert client.get(f"/klinik/{small_world.clinic.pk}/")["Location"].startswith("/logga-in/tvastegsverifiering/")


def test_a_clinic_user_who_enrolled_gives_the_code_too(client, small_world):
    _app(small_world.biller)

    response = _password(client, small_world.biller)

    assert response["Location"].startswith("/logga-in/kod/")


def test_a_role_given_during_a_session_asks_for_the_second_factor(client, small_world):
    coordinator = small_world.coordinator
    client.force_login(coordinator, backend=PASSWORD_BACKEND)  # logged in with the password only

    response = client.get(f"/region/{small_world.region.code}/")

    assert response.status_code == 302 and response["Location"].startswith("/logga-in/tvastegsverifiering/")
    assert client.get("/healthz").status_code in (200, 503)  # public pages stay open


def test_the_system_administrator_enrols_on_first_login_too(client, db):
    # The system administrator can close the whole portal (a service window for every region).
    admin = UserFactory(is_system_admin=True)

    response = _password(client, admin)

    assert response["Location"].startswith("/logga-in/tvastegsverifiering/")
    assert client.get("/servicefonster/")["Location"].startswith("/logga-in/tvastegsverifiering/")


def test_the_demo_gives_region_roles_the_published_secret(world):
    system = world.user("system@demo.test")
    for user in (world.coordinator_vg, world.coordinator_dalarna, world.region_admin, system):
        device = TOTPDevice.objects.get(user=user, confirmed=True)
        assert two_factor.base32_secret(device) == DEMO_TOTP_SECRET
    assert not TOTPDevice.objects.filter(user=world.biller).exists()


def test_the_region_administrator_requires_it_for_the_clinics_and_the_coordinator_may_not(client, small_world):
    region = small_world.region
    admin = RegionMembershipFactory(region=region, role="region_admin").user
    client.force_login(small_world.coordinator)
    assert client.post(f"/region/{region.code}/regler/tvastegsverifiering/", {"required": "1"}).status_code == 403
    client.force_login(admin)

    response = client.post(f"/region/{region.code}/regler/tvastegsverifiering/", {"required": "1"}, follow=True)

    assert "Klinikernas användare måste nu ha tvåstegsverifiering när de loggar in." in response.content.decode()
    region.refresh_from_db()
    assert region.clinic_two_factor_required
    assert AuditEvent.objects.filter(action="clinics.region.two_factor_changed", region_id=region.pk).exists()
    client.force_login(small_world.biller, backend=PASSWORD_BACKEND)
    assert client.get(f"/klinik/{small_world.clinic.pk}/")["Location"].startswith("/logga-in/tvastegsverifiering/")
