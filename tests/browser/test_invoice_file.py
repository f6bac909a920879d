"""Ladda upp fakturafil as the biller at clinic 31 does it: a file with a fault, the check's result and error
list, the list saved to Excel, the correct claims sent and the invoice found under Era fakturor."""

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from claims.models import Invoice, InvoiceFileState, InvoiceFileUpload
from tests.billing.test_invoice_file_messages import fakturafil, rakning
from tests.browser.test_eligibility import BILLER, choose_clinic31, expect_status, log_in, main_menu

INVALID_PIN = "200001012385"  # wrong check digit
INVOICE_REFERENCE = "FIL-WEB-1"
HEADINGS = ["Kliniknummer", "Räkningsnummer", "Personnummer", "Felmeddelande"]
FAULT_ROW = ["31", "WEB-2", INVALID_PIN, "Personnumret är ogiltigt."]


@pytest.mark.browser
def test_biller_uploads_a_file_sees_the_faults_saves_them_and_sends_the_correct_claims(
    page: Page, live_server, transactional_world
):
    content = fakturafil(
        # WEB-3 another treatment than WEB-1's on the same visit: the same one would be duplicate care.
        [rakning("WEB-1"), rakning("WEB-2", INVALID_PIN), rakning("WEB-3", actions='<Atgard kod="103"/>')],
        reference=INVOICE_REFERENCE,
    )
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    main_menu(page, "Ladda upp fakturafil")

    page.get_by_label("Välj fil på datorn").set_input_files(
        files=[{"name": "oktober.xml", "mimeType": "text/xml", "buffer": content}]
    )
    page.get_by_role("button", name="Ladda upp fakturafil", exact=True).click()

    # The check has run (eagerly, when the upload committed): the bar is full and the counts are shown.
    expect(page.get_by_role("heading", level=1)).to_have_text("Fakturafil oktober.xml")
    expect(page.get_by_role("status").filter(has_text="Filen är mottagen")).to_be_visible()
    expect_status(page, "Kontrollerad")
    progress = page.get_by_role("progressbar", name="Kontrollerade räkningar")
    expect(progress).to_have_attribute("max", "3")
    expect(progress).to_have_attribute("value", "3")

    faults = page.get_by_role("table", name="Fellista")
    expect(faults.get_by_role("columnheader")).to_have_text(HEADINGS)
    expect(faults.locator("tbody").get_by_role("row")).to_have_count(1)
    expect(faults.locator("tbody").get_by_role("row").get_by_role("cell")).to_have_text(FAULT_ROW)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Spara fellistan till Excel", exact=True).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    with open(download.path(), "rb") as saved:
        sheet = openpyxl.load_workbook(saved).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert HEADINGS in rows
    assert FAULT_ROW in rows

    page.get_by_role("button", name="Ladda upp", exact=True).click()
    expect(page.get_by_text(f"De korrekta räkningarna skickades som faktura {INVOICE_REFERENCE}")).to_be_visible()
    expect(page.get_by_role("button", name="Ladda upp", exact=True)).to_have_count(0)

    main_menu(page, "Era fakturor")
    invoice = page.locator("tbody.invoice").filter(
        has=page.get_by_role("rowheader", name=INVOICE_REFERENCE, exact=True)
    )
    expect(invoice).to_have_count(1)
    expect(invoice).to_contain_text("Visa 2 räkningar i faktura " + INVOICE_REFERENCE)

    upload = InvoiceFileUpload.objects.get(clinic=transactional_world.clinic31)
    assert upload.state == InvoiceFileState.SENT
    sent = Invoice.objects.get(clinic=transactional_world.clinic31, reference=INVOICE_REFERENCE)
    assert sorted(sent.claims.values_list("reference", flat=True)) == ["WEB-1", "WEB-3"]
