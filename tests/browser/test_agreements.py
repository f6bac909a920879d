"""A new version of the region's agreement blocks sending until the clinic signs it, in the browser: the biller's
checked file cannot be sent (the page says why and where to sign), clinic 31's Avtalsansvarig reads and signs the
version, and then the biller sends the file."""

import re

import pytest
from playwright.sync_api import Page, expect

from agreements.models import AgreementSignature
from claims.models import InvoiceFileState, InvoiceFileUpload
from tests.agreements.helpers import overdue_version
from tests.billing.test_invoice_file_messages import fakturafil, rakning
from tests.browser.test_eligibility import BILLER, choose_clinic31, log_in, log_out, main_menu

AGREEMENT_OWNER = "avtal31@demo.test"
REFUSAL = "Kliniken har inte signerat avtalet Avtal om särskilt tandvårdsstöd, ny version (version 3)."


@pytest.mark.browser
def test_a_new_agreement_version_blocks_sending_until_the_avtalsansvarig_signs_it(
    page: Page, live_server, transactional_world
):
    world = transactional_world
    version = overdue_version(world.vg, world.region_admin)
    base = live_server.url

    log_in(page, base, BILLER)
    choose_clinic31(page)
    expect(page.locator("[data-agreement='blocked']")).to_contain_text(
        "Kliniken har inte signerat version 3 av avtalet: Avtal om särskilt tandvårdsstöd, ny version."
    )
    main_menu(page, "Ladda upp fakturafil")
    page.get_by_label("Välj fil på datorn").set_input_files(
        files=[{"name": "avtal.xml", "mimeType": "text/xml", "buffer": fakturafil([rakning("AVT-1")], reference="AVT")}]
    )
    page.get_by_role("button", name="Ladda upp fakturafil", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fakturafil avtal.xml")
    page.get_by_role("button", name="Ladda upp", exact=True).click()
    expect(page.locator(".messages")).to_contain_text(REFUSAL)
    expect(page.locator("[data-agreement='blocked']").get_by_role("link", name="Läs avtalet")).to_be_visible()
    upload = InvoiceFileUpload.objects.get(clinic=world.clinic31)
    assert upload.state == InvoiceFileState.CHECKED
    file_url = page.url
    log_out(page)

    log_in(page, base, AGREEMENT_OWNER)  # one clinic: straight to its start page
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("31 Folktandvården Demostaden"))
    page.locator("[data-agreement='blocked']").get_by_role("link", name="Läs och signera avtalet").click()
    expect(page.get_by_role("heading", name="Avtal", level=1)).to_be_visible()
    section = page.get_by_role("region", name=re.compile("ny version"))
    expect(section).to_contain_text("Ny avtalstext.")
    section.get_by_role("button", name="Signera version 3", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("är signerat")
    signatures = page.get_by_role("table", name="Klinikens signaturer")
    expect(signatures.locator("tbody tr").first).to_contain_text("Alva Avtalsansvarig")
    assert AgreementSignature.objects.get(version=version, clinic=world.clinic31).signed_by.email == AGREEMENT_OWNER
    log_out(page)

    log_in(page, base, BILLER)
    choose_clinic31(page)
    expect(page.locator("[data-agreement]")).to_have_count(0)
    page.goto(file_url)
    page.get_by_role("button", name="Ladda upp", exact=True).click()
    expect(page.get_by_text("De korrekta räkningarna skickades som faktura AVT")).to_be_visible()
    upload.refresh_from_db()
    assert upload.state == InvoiceFileState.SENT
