"""Sök person and a förhandsbedömning from request to decision, as the biller and the coordinator do it."""

import re

import pytest
from playwright.sync_api import Page, expect

from eligibility.models import PriorAssessment, PriorAssessmentState
from tests.eligibility.factories import PNG

PASSWORD = "tandvard-demo"
BILLER = "fakturerare@demo.test"
COORDINATOR_VG = "samordnare.vg@demo.test"
N_PATIENT = "200001012384"  # demo.json: N certificate (N1) tills vidare in VG
CLINIC31 = "31 Folktandvården Demostaden"
FHB_NUMBER = re.compile(r"FHB-\d{4}-\d{6}")


def log_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/logga-in/")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in", exact=True).click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Logga ut", exact=True).click()
    expect(page.get_by_role("heading", name="Logga in", level=1)).to_be_visible()


def choose_clinic31(page: Page) -> None:
    expect(page.get_by_role("heading", name="Välj klinik", level=1)).to_be_visible()
    page.get_by_role("link", name=CLINIC31, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(CLINIC31)


def main_menu(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def fact(page: Page, term: str):
    """A value in the facts list at the top of a förhandsbedömning: the <dd> after <dt>term</dt>."""
    return page.locator("dl.facts dt", has_text=re.compile(rf"^{re.escape(term)}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def expect_status(page: Page, state: str) -> None:
    expect(fact(page, "Status")).to_have_text(state)


@pytest.mark.browser
def test_biller_requests_fhb_for_n_patient_coordinator_approves_biller_sees_it(
    page: Page, live_server, transactional_world
):
    base = live_server.url

    # The biller looks up the N patient at clinic 31.
    log_in(page, base, BILLER)
    choose_clinic31(page)
    main_menu(page, "Sök person")
    page.get_by_label("Personnummer").fill(N_PATIENT)
    page.get_by_role("button", name="Sök person", exact=True).click()

    n_option = page.get_by_role("listitem").filter(has_text="N-tandvård")
    expect(n_option).to_be_visible()
    expect(n_option).to_contain_text("tills vidare")

    # … and asks for a förhandsbedömning for the same patient: the form comes with the personnummer filled in.
    page.get_by_role("button", name="Begär förhandsbedömning för patienten", exact=True).click()
    expect(page.get_by_role("heading", name="Begär förhandsbedömning", level=1)).to_be_visible()
    expect(page.get_by_label("Personnummer")).to_have_value(N_PATIENT)
    page.get_by_label("S-tandvård", exact=True).check()
    page.get_by_label("Motivering").fill("Extraktion av tand 36 inför strålbehandling.")
    page.get_by_label("Åtgärd rad 1", exact=True).fill("401")
    page.get_by_label("Tand rad 1", exact=True).fill("36")
    # 401 has a fixed price in the tariff: the price comes from there, and S needs the patient category.
    page.get_by_label("Patientkategori").select_option("S3")
    page.get_by_label("Bilagor").set_input_files(
        files=[{"name": "rontgen.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.get_by_role("button", name="Skicka in förhandsbedömning", exact=True).click()

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(rf"^Förhandsbedömning {FHB_NUMBER.pattern}$"))
    number = FHB_NUMBER.search(heading.inner_text()).group(0)
    expect(page.get_by_role("status")).to_contain_text(f"Förhandsbedömning {number} är inskickad.")
    expect_status(page, "Inskickad")
    expect(page.get_by_role("link", name="rontgen.png", exact=True)).to_be_visible()

    assessment = PriorAssessment.objects.get(number=number)
    assert assessment.clinic == transactional_world.clinic31
    assert assessment.patient.personal_identity_number == N_PATIENT
    assert [(a.original_name, a.content_type) for a in assessment.attachments.all()] == [("rontgen.png", "image/png")]
    log_out(page)

    # The coordinator in VG approves it from the queue.
    log_in(page, base, COORDINATOR_VG)
    main_menu(page, "Förhandsbedömningar")
    page.get_by_role("link", name=number, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Förhandsbedömning {number}")
    page.get_by_label("Motivering till kliniken").fill("Godkänns enligt ansökan.")
    page.get_by_role("button", name="Spara beslut", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Beslutet är sparat: Godkänd.")
    expect_status(page, "Godkänd")
    log_out(page)

    assessment.refresh_from_db()
    assert assessment.state == PriorAssessmentState.APPROVED

    # Back at clinic 31, the biller sees the decision.
    log_in(page, base, BILLER)
    choose_clinic31(page)
    main_menu(page, "Förhandsbedömningar")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))
    expect(row).to_contain_text("Godkänd")
    row.get_by_role("link", name=number, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Förhandsbedömning {number}")
    expect_status(page, "Godkänd")
    expect(fact(page, "Motivering till beslutet")).to_have_text("Godkänns enligt ansökan.")
