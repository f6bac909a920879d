"""Two-factor authentication and the idle warning, as people meet them in a real browser."""

import re

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from portal import two_factor
from tests.identity import page_log_in

PASSWORD = "tandvard-demo"


def test_a_coordinator_without_an_app_enrols_on_first_login(page: Page, live_server, transactional_world):
    coordinator = transactional_world.coordinator_dalarna
    TOTPDevice.objects.filter(user=coordinator).delete()

    page.goto(f"{live_server.url}/logga-in/")
    page.get_by_label("E-postadress").fill(coordinator.email)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in", exact=True).click()

    expect(page.get_by_role("heading", name="Aktivera tvåstegsverifiering", level=1)).to_be_visible()
    expect(page.get_by_role("img", name="QR-kod för autentiseringsappen")).to_be_visible()
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    device = TOTPDevice(key=two_factor.hex_key(secret))
    totp = TOTP(device.bin_key)
    page.get_by_role("textbox", name="Kod").fill(f"{totp.token():06d}")
    page.get_by_role("button", name="Aktivera", exact=True).click()

    expect(page.get_by_role("heading", name="Reservkoder", level=1)).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Jag har sparat koderna – fortsätt").click()
    expect(page).to_have_url(re.compile(r"/region/dalarna/$"))


def test_the_idle_warning_shows_before_the_session_ends_and_keeps_it(
    page: Page, live_server, transactional_world, settings
):
    settings.SESSION_IDLE_SECONDS = 68  # the page counts from a minute earlier: 8 s
    settings.SESSION_IDLE_WARNING_SECONDS = 6
    page_log_in(page, live_server.url, "admin31@demo.test", PASSWORD)
    warning = page.get_by_role("alert").filter(has_text="Du loggas ut om")
    expect(warning).to_be_hidden()

    expect(warning).to_be_visible(timeout=6_000)
    page.get_by_role("button", name="Fortsätt vara inloggad").click()

    expect(warning).to_be_hidden()
