"""Throttled login (django-axes): 5 failures for one e-mail address from one address, then a wait with its length in
Swedish, during which even the right password is refused."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import two_factor

PASSWORD = "tandvard-test"
LOCKED = "För många misslyckade inloggningsförsök. Vänta 15 minuter och försök sedan igen"


def _post(client, email, password, address="10.0.0.1"):
    return client.post("/logga-in/", {"username": email, "password": password}, REMOTE_ADDR=address)


def _fail(client, email, times, address="10.0.0.1"):
    for _i in range(times):
        response = _post(client, email, "fel-lösenord", address)
    return response


def test_the_right_password_is_refused_after_five_failures_with_the_waiting_time(client, small_world):
    email = small_world.biller.email
    for attempt in range(4):
        response = _post(client, email, "fel-lösenord")
        assert response.status_code == 200, attempt
        assert "Fel e-postadress eller lösenord." in response.content.decode()
    fifth = _post(client, email, "fel-lösenord")
    assert fifth.status_code == 429
    assert LOCKED in fifth.content.decode()

    response = _post(client, email, PASSWORD)

    body = response.content.decode()
    assert response.status_code == 429
    assert LOCKED in body and "Inloggningen är tillfälligt spärrad" in body
    assert int(response["Retry-After"]) > 14 * 60
    assert SESSION_KEY not in client.session


def test_the_lock_counts_the_address_in_any_case_of_letters(client, small_world):
    email = small_world.biller.email
    _fail(client, email.upper(), 5)

    assert _post(client, email, PASSWORD).status_code == 429


def test_the_lock_is_per_account_and_address(client, small_world):
    email = small_world.biller.email
    _fail(client, email, 5, address="10.0.0.1")

    other_address = _post(client, email, PASSWORD, address="10.0.0.2")
    assert other_address.status_code == 302
    client.logout()
    other_account = _post(client, small_world.admin.email, PASSWORD, address="10.0.0.1")
    assert other_account.status_code == 302


def test_the_right_password_works_again_when_the_wait_is_over(client, small_world):
    email = small_world.biller.email
    _fail(client, email, 5)
    AccessAttempt.objects.update(attempt_time=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=16))

    response = _post(client, email, PASSWORD)

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(small_world.biller.pk)


def test_a_successful_login_forgets_the_failures(client, small_world):
    email = small_world.biller.email
    _fail(client, email, 4)
    assert _post(client, email, PASSWORD).status_code == 302
    client.logout()

    assert _fail(client, email, 4).status_code == 200
    assert _post(client, email, PASSWORD).status_code == 302


def test_wrong_two_factor_codes_count_too_and_the_right_code_is_then_refused(client, small_world):
    coordinator = small_world.coordinator
    TOTPDevice.objects.create(user=coordinator, name="App", key=two_factor.hex_key("JBSWY3DPEHPK3PXP"), confirmed=True)
    assert _post(client, coordinator.email, PASSWORD)["Location"].startswith("/logga-in/kod/")
    for _i in range(4):
        response = client.post("/logga-in/kod/", {"code": "000000"}, REMOTE_ADDR="10.0.0.1")
        assert "Koden stämmer inte." in response.content.decode()

    fifth = client.post("/logga-in/kod/", {"code": "000000"}, REMOTE_ADDR="10.0.0.1")

    assert fifth.status_code == 429
    assert LOCKED in fifth.content.decode()
    assert SESSION_KEY not in client.session  # logged out: the password must be given again
    assert _post(client, coordinator.email, PASSWORD).status_code == 429


@pytest.mark.parametrize("failures", [1, 4])
def test_fewer_than_five_failures_never_lock(client, small_world, failures):
    _fail(client, small_world.biller.email, failures)

    response = _post(client, small_world.biller.email, PASSWORD)

    assert response.status_code == 302


def test_giving_the_password_again_does_not_forget_the_wrong_codes(client, small_world):
    coordinator = small_world.coordinator
    TOTPDevice.objects.create(user=coordinator, name="App", key=two_factor.hex_key("JBSWY3DPEHPK3PXP"), confirmed=True)
    _post(client, coordinator.email, PASSWORD)
    for _i in range(3):
        client.post("/logga-in/kod/", {"code": "000000"}, REMOTE_ADDR="10.0.0.1")
    client.logout()
    _post(client, coordinator.email, PASSWORD)
    client.post("/logga-in/kod/", {"code": "000000"}, REMOTE_ADDR="10.0.0.1")

    fifth = client.post("/logga-in/kod/", {"code": "000000"}, REMOTE_ADDR="10.0.0.1")

    assert fifth.status_code == 429
