"""Uppsägning in a real browser: the clinic's local administrator gives notice, every user sees the banner, and once
the daily job has closed the clinic its users get no clinic any more (issue 15)."""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from clinics.models import Clinic, Termination
from clinics.tasks import close_terminated_clinics

PASSWORD = "tandvard-demo"


def _log_in(page: Page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/logga-in/")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in", exact=True).click()


@pytest.mark.browser
def test_a_terminated_clinics_user_gets_no_clinic_after_the_end_date(
    page: Page, browser, live_server, transactional_world
):
    clinic = Clinic.objects.get(number="2001")
    today = timezone.localdate()

    _log_in(page, live_server, "admin2001@demo.test")
    expect(page).to_have_url(re.compile(rf"/klinik/{clinic.pk}/$"))
    page.goto(f"{live_server.url}/klinik/{clinic.pk}/klinikadministration/")
    page.get_by_role("link", name="Säg upp kliniken").click()
    page.get_by_label("Slutdatum").fill(today.isoformat())
    page.get_by_label("Skäl").fill("Mottagningen läggs ner")
    page.get_by_role("button", name="Säg upp kliniken").click()
    expect(page.locator("#termination-banner")).to_contain_text(
        f"Kliniken är uppsagd med slutdatum {today.isoformat()}"
    )

    biller = browser.new_context(locale="sv-SE")
    biller.set_default_timeout(10_000)
    other = biller.new_page()
    _log_in(other, live_server, "dalarna@demo.test")
    expect(other).to_have_url(re.compile(rf"/klinik/{clinic.pk}/$"))
    expect(other.locator("#termination-banner")).to_contain_text(today.isoformat())

    # Time passes: the end date and the region's slutfakturering are behind us when the daily job runs.
    Termination.objects.filter(clinic=clinic).update(
        ends_on=today - datetime.timedelta(days=40), last_billing_on=today - datetime.timedelta(days=1)
    )
    assert close_terminated_clinics.apply().get() == [clinic.pk]

    # The biller's session ended: the next page asks for a login, and after it there is no clinic to work for.
    other.reload()
    expect(other).to_have_url(re.compile(r"/logga-in/"))
    _log_in(other, live_server, "dalarna@demo.test")
    expect(other.get_by_text("Du har ingen behörighet till någon klinik eller region just nu.")).to_be_visible()
    response = other.goto(f"{live_server.url}/klinik/{clinic.pk}/")
    assert response.status == 404
    biller.close()
