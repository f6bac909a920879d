"""Registrera räkning in the browser, with JavaScript: lines added without reloading, faults as the clinic types,
one claim sent, and the claim found under Era fakturor, Under behandling, and deleted there."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from claims.models import Claim, ClaimState, TariffRow
from portal.money import format_kronor
from tests.claims.factories import tariff_for

from .test_eligibility import BILLER, choose_clinic31, log_in

N_PIN = "200001012384"  # demo: N certificate (N1) tills vidare in VG
NO_CERTIFICATE_PIN = "200001022383"  # demo: no certificate, an approved S prior assessment at clinic 31


def _visit_days() -> tuple[datetime.date, datetime.date]:
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    return (yesterday if yesterday.year == today.year else today), today


def _price_of_101(region, day: datetime.date) -> int:
    return TariffRow.objects.get(version=tariff_for(region, day), code="101").price


def open_register(page: Page) -> None:
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Registrera räkning", exact=True).click()
    expect(page.get_by_role("heading", name="Registrera tandvårdsräkning", level=1)).to_be_visible()


def search(page: Page, pin: str) -> None:
    page.get_by_label("Personnummer").fill(pin)
    page.get_by_role("button", name="Sök person", exact=True).click()
    expect(page.get_by_role("heading", name="Patientinformation", level=2)).to_be_visible()


def add_line(page: Page, day: datetime.date, code: str) -> None:
    page.get_by_label("Åtgärdsdatum").fill(day.isoformat())
    page.get_by_label("Åtgärd:", exact=True).fill(code)
    page.get_by_role("button", name="Lägg till åtgärd", exact=True).click()
    expect(page.locator("#claim-lines-status")).to_have_text(f"Åtgärd {code} den {day.isoformat()} är tillagd.")


@pytest.mark.browser
def test_biller_registers_a_two_visit_n_claim(page: Page, live_server, transactional_world):
    first, last = _visit_days()
    price = _price_of_101(transactional_world.vg, first)
    _price_of_101(transactional_world.vg, last)
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    open_register(page)
    search(page, N_PIN)

    expect(page.get_by_label("N-tandvård (Intyget giltigt: tills vidare)")).to_be_checked()
    page.get_by_label("Vårdmodell").select_option("K1")

    # Tand, Käke and Pris are asked for only when the code needs them.
    page.get_by_label("Åtgärd:", exact=True).fill("401")
    expect(page.get_by_label("Tand:", exact=True)).to_be_visible()
    expect(page.get_by_label("Pris (kr)")).to_be_hidden()
    page.get_by_label("Åtgärd:", exact=True).fill("101")
    expect(page.get_by_label("Tand:", exact=True)).to_be_hidden()
    expect(page.get_by_label("Käke:", exact=True)).to_be_hidden()

    # Lines are added without reloading the page.
    page.evaluate("window.stillTheSamePage = true")
    add_line(page, first, "101")
    add_line(page, last, "101")
    assert page.evaluate("window.stillTheSamePage") is True
    table = page.get_by_role("table", name="Ersättningar")
    expect(table.locator("tr[id^='line-']")).to_have_count(2)
    expect(table).to_contain_text("101 Basundersökning och diagnostik, utförd av tandläkare")
    expect(page.get_by_label("Åtgärd:", exact=True)).to_be_focused()

    visits = sorted({first, last})
    for day in visits:
        page.get_by_label(f"Patientavgift {day.isoformat()}").fill("200")
    total = 2 * price - len(visits) * 20000
    # The Summa comes from the server as the fees are typed: the script parses no kronor itself.
    expect(page.locator("[data-claim-total]")).to_have_text(format_kronor(total))

    # A changed field's fault shows where the server says, as it is typed, and goes when it is put right.
    page.get_by_label("Vårdmodell").select_option("")
    expect(page.locator("#id_care_model_live_error")).to_have_text("Ange vårdmodell för N-tandvård.")
    page.get_by_label("Vårdmodell").select_option("K1")
    expect(page.locator("#id_care_model_live_error")).to_have_count(0)

    page.get_by_label("OCR/Fakturanr.").fill("8811")
    page.get_by_label("Räkningsreferens").fill("BR-1001")
    page.get_by_role("button", name="Skicka in tandvårdsräkning", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Räkningen är inskickad")
    expect(page.get_by_role("status").filter(has_text="BR-1001")).to_have_text(
        "Räkning BR-1001 är inskickad på faktura 8811."
    )
    expect(page.get_by_role("link", name="Registrera en räkning till på samma faktura")).to_be_visible()
    assert N_PIN not in page.url
    claim = Claim.objects.get(clinic=transactional_world.clinic31, reference="BR-1001")
    assert claim.total == total
    assert claim.invoice.reference == "8811"
    assert claim.lines.count() == 2 + len(visits)

    # Under behandling in Era fakturor, and deleted there.
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Era fakturor", exact=True).click()
    expect(page.get_by_role("heading", name="Era fakturor", level=1)).to_be_visible()
    invoice = page.locator("tbody.invoice").filter(has=page.get_by_role("rowheader", name="8811", exact=True))
    expect(invoice).to_contain_text("Under behandling")
    invoice.get_by_text("Visa 1 räkning i faktura 8811").click()
    invoice.get_by_role("button", name="Radera räkning BR-1001").click()
    expect(page.get_by_role("heading", name="Radera räkning BR-1001?", level=1)).to_be_visible()
    page.get_by_role("button", name="Radera", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Räkning BR-1001 är raderad.")).to_be_visible()
    claim.refresh_from_db()
    assert claim.state == ClaimState.DELETED


@pytest.mark.browser
def test_an_n_claim_for_a_patient_without_certificate_is_refused(page: Page, live_server, transactional_world):
    first, _last = _visit_days()
    _price_of_101(transactional_world.vg, first)
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    open_register(page)
    search(page, NO_CERTIFICATE_PIN)

    expect(
        page.get_by_label("S-tandvård (som led i sjukdomsbehandling under begränsad tid) - FHB krävs")
    ).to_be_checked()
    add_line(page, first, "101")
    # Choosing N: the fault shows beside the choice as soon as it is made.
    page.get_by_label("N-tandvård").check()
    support_forms = page.get_by_role("group", name="Välj rätt del av tandvårdsstödet")
    expect(support_forms).to_contain_text("Patienten saknar giltigt intyg för N-tandvård.")
    expect(page.get_by_label("Vårdmodell")).to_be_visible()  # asked for N only

    page.get_by_label("Vårdmodell").select_option("K1")
    page.get_by_label(f"Patientavgift {first.isoformat()}").fill("200")
    page.get_by_label("OCR/Fakturanr.").fill("8812")
    page.get_by_label("Räkningsreferens").fill("BR-2001")
    page.get_by_role("button", name="Skicka in tandvårdsräkning", exact=True).click()

    summary = page.get_by_role("alert").filter(has_text="Något behöver rättas")
    expect(summary).to_contain_text("Patienten saknar giltigt intyg för N-tandvård.")
    summary.get_by_role("link", name="Patienten saknar giltigt intyg för N-tandvård.").click()
    expect(page.get_by_label("N-tandvård")).to_be_focused()
    expect(page.get_by_label("N-tandvård")).to_be_checked()
    expect(page.get_by_label("Räkningsreferens")).to_have_value("BR-2001")
    expect(page.get_by_role("table", name="Ersättningar").locator("tr[id^='line-']")).to_have_count(1)
    assert not Claim.objects.filter(reference="BR-2001").exists()


@pytest.mark.browser
def test_an_s_claim_with_the_approved_prior_assessment(page: Page, live_server, transactional_world):
    from eligibility.models import PriorAssessment

    first, _last = _visit_days()
    _price_of_101(transactional_world.vg, first)
    assessment = PriorAssessment.objects.get(
        clinic=transactional_world.clinic31, patient__personal_identity_number=NO_CERTIFICATE_PIN
    )
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    open_register(page)
    search(page, NO_CERTIFICATE_PIN)

    # No certificate: S is chosen, and the approved prior assessment shows up by itself.
    expect(
        page.get_by_label("S-tandvård (som led i sjukdomsbehandling under begränsad tid) - FHB krävs")
    ).to_be_checked()
    expect(page.get_by_label("Förhandsbedömning")).to_have_value(assessment.number)
    page.get_by_label("Patientkategori").select_option("S3")

    page.get_by_label("Åtgärdsdatum").fill(first.isoformat())
    page.get_by_label("Åtgärd:", exact=True).fill("401")
    page.get_by_label("Tand:", exact=True).fill("36")
    page.get_by_role("button", name="Lägg till åtgärd", exact=True).click()
    expect(page.locator("#claim-lines-status")).to_have_text(f"Åtgärd 401 den {first.isoformat()} är tillagd.")
    # The demo's FHB has its 101 billed already: its 401 is what is left.
    page.get_by_label(f"Patientavgift {first.isoformat()}").fill("200")
    page.get_by_label("OCR/Fakturanr.").fill("8813")
    page.get_by_label("Räkningsreferens").fill("BR-3001")
    page.get_by_role("button", name="Skicka in tandvårdsräkning", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Räkningen är inskickad")
    claim = Claim.objects.get(clinic=transactional_world.clinic31, reference="BR-3001")
    assert claim.support_form == "S"
    assert claim.prior_assessment == assessment
    assert sorted(claim.lines.values_list("code", flat=True)) == ["401", "patAvg"]
