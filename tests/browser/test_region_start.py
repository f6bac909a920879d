"""The coordinator's start page in a real browser: the charts are drawn under the Content-Security-Policy, are
images with names, and the figures can be saved to Excel."""

import re

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_eligibility import log_in

COORDINATOR = "samordnare.vg@demo.test"


@pytest.mark.browser
def test_coordinator_sees_the_charts_with_their_tables_and_saves_the_months_to_excel(
    page: Page, live_server, transactional_world
):
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security" in message.text else None)
    log_in(page, live_server.url, COORDINATOR)

    expect(page).to_have_url(re.compile(r"/region/vg/$"))
    expect(page.get_by_role("heading", name="Att hantera", level=2)).to_be_visible()
    months = page.get_by_role("img", name=re.compile(r"^Belopp per månad och stödform"))
    clinics = page.get_by_role("img", name="Belopp per klinik och stödform")
    expect(months).to_be_visible()
    expect(clinics).to_be_visible()
    # The demo's past months are drawn: bars with a real size, in several months.
    bars = months.locator("rect")
    expect(bars.nth(5)).to_be_visible()
    box = bars.first.bounding_box()
    assert box is not None and box["width"] > 5 and box["height"] > 0
    expect(page.get_by_role("table", name="Belopp per månad och stödform").get_by_role("row")).to_have_count(14)
    clinic_table = page.get_by_role("table", name="Belopp per klinik och stödform")
    expect(clinic_table).to_contain_text("32 Tandläkarna i Demohamn")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Spara till Excel: belopp per månad").click()
    download = download_info.value
    assert download.suggested_filename.startswith("belopp-per-manad-vg-")
    with open(download.path(), "rb") as saved:
        book = openpyxl.load_workbook(saved)
    rows = list(book["Per månad"].iter_rows(values_only=True))
    assert rows[0][0] == "Belopp per månad och stödform, Västra Götaland"
    assert rows[-1][0] == "Summa" and rows[-1][4] > 0
    assert blocked == []
