"""A payout run in the browser with its preview: the coordinator previews the run (clinics, amounts, the claims left
out and why), confirms it, sees the claims approved for its date, then cancels it (Makulera körning) and the claims
are back under behandling with the run's cancellation in their history."""

import pytest
from playwright.sync_api import Page, expect

from claims.models import Claim, ClaimState
from payouts.models import PayoutRun, PayoutRunState
from tests.payouts.factories import future_bank_day

from .test_eligibility import COORDINATOR_VG, log_in, main_menu


@pytest.mark.browser
def test_coordinator_previews_confirms_and_cancels_a_payout_run(page: Page, live_server, transactional_world):
    base = live_server.url
    received = Claim.objects.get(clinic=transactional_world.clinic31, reference="DEMO-A1")
    assert received.state == ClaimState.RECEIVED
    day = future_bank_day()

    log_in(page, base, COORDINATOR_VG)
    main_menu(page, "Utbetalningar")
    page.get_by_role("link", name="Ny utbetalningskörning", exact=True).click()
    page.get_by_label("Utbetalningsdatum").fill(day.isoformat())
    page.get_by_role("button", name="Förhandsgranska", exact=True).click()

    # The preview: per clinic the claims and amounts; what is left out, and why. Nothing is made yet.
    expect(
        page.get_by_role("heading", name=f"Förhandsgranskning: utbetalning {day.isoformat()}", level=1)
    ).to_be_visible()
    expect(page.get_by_role("table", name="Räkningar för klinik 31").get_by_role("row", name="DEMO-A1")).to_be_visible()
    left_out = page.get_by_role("table", name="Räkningar som inte kommer med och varför")
    expect(left_out.get_by_role("row", name="DEMO-A2")).to_contain_text("Under granskning")
    assert not PayoutRun.objects.filter(region=transactional_world.vg, payout_date=day).exists()

    page.get_by_role("button", name="Skapa utbetalningskörning", exact=True).click()
    expect(page.get_by_role("heading", name=f"Utbetalning {day.isoformat()}", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Utbetalningskörningen för {day.isoformat()} är skapad")
    received.refresh_from_db()
    assert (received.state, received.approved_on) == (ClaimState.APPROVED, day)

    page.get_by_role("link", name="Makulera körning", exact=True).click()
    expect(
        page.get_by_role("heading", name=f"Makulera utbetalningskörningen {day.isoformat()}", level=1)
    ).to_be_visible()
    page.get_by_role("button", name="Makulera körning", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Utbetalningskörningen för {day.isoformat()} är makulerad")
    expect(page.locator("dl.facts").first).to_contain_text("Makulerad")
    expect(page.get_by_role("link", name="Makulera körning", exact=True)).to_have_count(0)

    run = PayoutRun.objects.get(region=transactional_world.vg, payout_date=day)
    assert run.state == PayoutRunState.CANCELLED
    received.refresh_from_db()
    assert (received.state, received.approved_on) == (ClaimState.RECEIVED, None)

    # The claim's history says so, in the coordinator's review of it.
    main_menu(page, "Räkningar")
    page.get_by_role("link", name="Visa alla", exact=True).click()  # the list opens on Att hantera; DEMO-A1 is not
    page.get_by_role("link", name="DEMO-A1", exact=True).click()
    expect(page.get_by_text(f"Utbetalningskörningen {day.isoformat()} makulerades")).to_be_visible()
