"""Logging in as the tests do it: the code an authenticator app would show, the login form with the second step,
and the backend through which force_login counts as every factor given."""

from __future__ import annotations

import time
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.http import HttpRequest
from django.test import Client as DjangoClient
from django.utils.crypto import get_random_string
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from clinics.models import User
from portal.demo import DEMO_PASSWORD
from portal.sessions import SessionStore
from tests.waiting import wait_until

PASSWORD_BACKEND = "django.contrib.auth.backends.ModelBackend"


class AllFactorsBackend(ModelBackend):
    """force_login's backend in the tests (settings/test.py): a session logged in through it counts as two-factor
    verified, as one through the region's identity provider does, so that view and permission tests need not
    give codes. It never authenticates a password. Tests of the second step log in through the form, or with
    force_login(user, backend=PASSWORD_BACKEND)."""

    def authenticate(self, request, **credentials):
        return None


class _LoginSession(SessionStore):
    """A session made by force_login: stored once, with its user, in one INSERT when the login saves it. Django's
    login() would first store it empty under a new key (cycle_key, which checks that the key is unused), then
    store it again with the user: 7 queries instead of 3. A new session has nothing to move to a new key."""

    # The data are signed with the class's name: as the SessionStore that reads them on the next request.
    key_salt = "django.contrib.sessions." + SessionStore.__qualname__

    def cycle_key(self) -> None:
        pass

    def _get_new_session_key(self) -> str:
        # 32 random characters of 36: the INSERT's primary key would still refuse a key already used.
        return get_random_string(32, VALID_KEY_CHARS)


class Client(DjangoClient):
    """The `client` fixture's test client (tests/conftest.py): force_login as Django's, through
    django.contrib.auth.login and its user_logged_in receivers (last_login, portal.sessions' login time), but
    (a) a client with no session yet gets the session in one INSERT (_LoginSession), and (b) django-axes is off
    during it: its receiver writes axes' access log and deletes expired attempts, 3 queries and two log lines a
    login, which no force_login test reads (the tests of the login and of axes log in through the form,
    `log_in`, where axes is on as in production). About 10 queries fewer per login, and the walks log in
    thousands of times."""

    def _login(self, user, backend=None) -> None:
        # Django's Client.session would store a new empty session only to be asked whether there is one.
        if self.cookies.get(settings.SESSION_COOKIE_NAME) or settings.SESSION_ENGINE != "portal.sessions":
            with _axes_off():
                return super()._login(user, backend)
        from django.contrib.auth import login

        request = HttpRequest()
        request.session = _LoginSession()
        with _axes_off():
            login(request, user, backend)
        request.session.save()
        self._set_login_cookies(request)


@contextmanager
def _axes_off():
    """axes' own switch (AXES_ENABLED, read on each call of its handlers), off for the block."""
    enabled = settings.AXES_ENABLED
    settings.AXES_ENABLED = False
    try:
        yield
    finally:
        settings.AXES_ENABLED = enabled


def totp_code(user, device: TOTPDevice | None = None) -> str:
    """The code the user's authenticator app shows now, one the device has not accepted yet (django-otp refuses a
    code twice): a later time step within the device's tolerance, or the next step once it begins."""
    device = device or TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    assert device is not None, f"{user} has no authenticator app"

    def now_step() -> int:
        return int((time.time() - device.t0) // device.step) + device.drift

    device.refresh_from_db()
    wanted = device.last_t + 1
    if wanted > now_step() + device.tolerance:
        wait_until(lambda: wanted <= now_step() + device.tolerance, timeout=device.step + 2, what="the next TOTP step")
    step = max(now_step(), wanted)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = device.t0 + (step - device.drift) * device.step + 1
    return f"{totp.token():0{device.digits}d}"


def log_in(client, email: str, password: str = DEMO_PASSWORD, *, follow: bool = True):
    """The login form, then the code from the app when the account asks for one. Returns the last response."""
    response = client.post("/logga-in/", {"username": email, "password": password})
    if response.status_code == 302 and response["Location"].startswith("/logga-in/kod/"):
        user = response.wsgi_request.user
        response = client.post(response["Location"], {"code": totp_code(user)})
    if follow and response.status_code == 302:
        response = client.get(response["Location"], follow=True)
    return response


def page_log_in(page, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """The same in the browser: e-mail and password, then the code when the page asks for it."""
    page.goto(f"{base_url}/logga-in/")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in", exact=True).click()
    user = User.objects.get(email=email)
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        expect(page.get_by_role("heading", name="Tvåstegsverifiering", level=1)).to_be_visible()
        page.get_by_role("textbox", name="Kod").fill(totp_code(user))
        page.get_by_role("button", name="Fortsätt", exact=True).click()
        expect(page.get_by_role("heading", name="Tvåstegsverifiering", level=1)).to_have_count(0)
