"""The FHB meter in the claim form, with JavaScript: it shows what is billed against the FHB chosen, goes when no
FHB is chosen and comes back when it is chosen again, without reloading. And "Lägg till rad" on the FHB request
adds a row in place. The demo's FHB has its 101 billed once."""

import pytest
from playwright.sync_api import Page, expect

from eligibility.models import PriorAssessment

from .test_eligibility import BILLER, choose_clinic31, log_in
from .test_register_claim import NO_CERTIFICATE_PIN, open_register, search

NBSP = "\u00a0"
METER = f"Godkänt 2{NBSP}200{NBSP}kr · Fakturerat 980{NBSP}kr · Kvar 1{NBSP}220{NBSP}kr"  # 401 at the tariff's price


@pytest.mark.browser
def test_choosing_the_fhb_in_the_claim_form_shows_its_meter(page: Page, live_server, transactional_world):
    assessment = PriorAssessment.objects.get(
        clinic=transactional_world.clinic31, patient__personal_identity_number=NO_CERTIFICATE_PIN
    )
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    open_register(page)
    search(page, NO_CERTIFICATE_PIN)

    meter = page.locator("[data-fhb-use] .fhb-use__figures")
    expect(page.get_by_label("Förhandsbedömning")).to_have_value(assessment.number)
    expect(meter).to_have_text(METER)
    page.get_by_label("Förhandsbedömning").select_option("")
    expect(meter).to_have_count(0)
    page.get_by_label("Förhandsbedömning").select_option(assessment.number)
    expect(meter).to_have_text(METER)
    expect(page.locator("[data-fhb-use] meter")).to_have_attribute("value", "44")
    expect(page.locator("[data-fhb-use]")).to_contain_text(
        f"44 % av det godkända beloppet för {assessment.number} är fakturerat."
    )


@pytest.mark.browser
def test_add_line_on_the_fhb_request_adds_a_row_in_place(page: Page, live_server, transactional_world):
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    page.goto(f"{live_server.url}/klinik/{transactional_world.clinic31.pk}/forhandsbedomningar/ny/")
    rows = page.locator("[data-planned-line]")
    expect(rows).to_have_count(3)
    page.get_by_label("Åtgärd rad 1").fill("401")
    page.get_by_role("button", name="Lägg till rad").click()
    expect(rows).to_have_count(4)
    expect(page.locator("input[name='lines-TOTAL_FORMS']")).to_have_value("4")
    expect(page.locator("input[name='lines-3-code']")).to_be_focused()
    expect(page.get_by_label("Åtgärd rad 1")).to_have_value("401")
    expect(page.get_by_label("Åtgärd rad 4")).to_have_value("")
