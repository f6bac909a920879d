"""Enter in the Åtgärd field of Registrera räkning adds the line, with JavaScript and without it; Enter in the
personnummer field still runs Sök person."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from .test_eligibility import BILLER, choose_clinic31, log_in
from .test_register_claim import N_PIN, _price_of_101, open_register


@pytest.fixture
def page_without_js(browser):
    context = browser.new_context(locale="sv-SE", java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def _enter_a_line(page: Page, day: datetime.date) -> None:
    page.get_by_label("Personnummer").fill(N_PIN)
    page.get_by_label("Personnummer").press("Enter")
    expect(page.get_by_role("heading", name="Patientinformation", level=2)).to_be_visible()

    page.get_by_label("Åtgärdsdatum").fill(day.isoformat())
    page.get_by_label("Åtgärd:", exact=True).fill("101")
    page.get_by_label("Åtgärd:", exact=True).press("Enter")

    expect(page.locator("#claim-lines-status")).to_have_text(f"Åtgärd 101 den {day.isoformat()} är tillagd.")
    table = page.get_by_role("table", name="Ersättningar")
    expect(table.locator("tr[id^='line-']")).to_have_count(1)
    expect(table).to_contain_text("101 Basundersökning")


@pytest.mark.browser
def test_without_javascript_enter_in_atgard_adds_the_line(page_without_js: Page, live_server, transactional_world):
    page = page_without_js
    day = timezone.localdate()
    _price_of_101(transactional_world.vg, day)
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    open_register(page)

    _enter_a_line(page, day)
    # Not Sök person again: the patient's page is as it was, the personnummer field unchanged.
    expect(page.get_by_label("Personnummer")).to_have_value(N_PIN)
    expect(page.locator("#error-summary")).to_have_count(0)


@pytest.mark.browser
def test_with_javascript_enter_in_atgard_adds_the_line_without_reloading(page: Page, live_server, transactional_world):
    day = timezone.localdate()
    _price_of_101(transactional_world.vg, day)
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    open_register(page)

    _enter_a_line(page, day)
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("Åtgärd:", exact=True).fill("101")
    page.get_by_label("Åtgärd:", exact=True).press("Enter")
    expect(page.get_by_role("table", name="Ersättningar").locator("tr[id^='line-']")).to_have_count(2)
    assert page.evaluate("window.stillTheSamePage") is True
