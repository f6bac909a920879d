"""Logging in and choosing a clinic, as a biller does it in a real browser."""

import re

import pytest
from playwright.sync_api import Page, expect

PASSWORD = "tandvard-demo"


@pytest.mark.browser
def test_biller_logs_in_chooses_clinic_32_and_sees_its_start_page(page: Page, live_server, transactional_world):
    clinic32 = transactional_world.clinic32

    page.goto(f"{live_server.url}/logga-in/")
    page.get_by_label("E-postadress").fill("fakturerare@demo.test")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in", exact=True).click()

    # Biller at clinics 31 and 32: the portal asks which one to work for.
    expect(page.get_by_role("heading", name="Välj klinik", level=1)).to_be_visible()
    page.get_by_role("link", name="32 Tandläkarna i Demohamn", exact=True).click()

    expect(page).to_have_url(re.compile(rf"/klinik/{clinic32.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("32 Tandläkarna i Demohamn")
