"""The coordinator's review in a browser: filter the region's claims, open one under review, approve it."""

import re

import pytest
from playwright.sync_api import Page, expect

from claims.models import Claim, ClaimState

from .test_eligibility import COORDINATOR_VG, fact, log_in


@pytest.mark.browser
def test_coordinator_filters_opens_a_claim_under_review_and_approves_it(page: Page, live_server, transactional_world):
    world = transactional_world
    log_in(page, live_server.url, COORDINATOR_VG)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tandvårdssamordning")

    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Räkningar", exact=True).click()
    expect(page.get_by_role("heading", name="Inkomna räkningar", level=1)).to_be_visible()

    # Under granskning at clinic 31: the demo's DEMO-A2, with a question the clinic has answered.
    page.get_by_label(re.compile(r"^Klinik:?$")).select_option(label="31 Folktandvården Demostaden")
    page.get_by_label("Status").select_option(label="Under granskning")
    page.get_by_role("button", name="Filtrera").click()
    expect(page).to_have_url(re.compile(r"state=under_review"))
    rows = page.locator("table.review-claims tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Under granskning")

    rows.first.get_by_role("link", name="DEMO-A2").click()
    expect(page.get_by_role("heading", name="Räkning DEMO-A2", level=1)).to_be_visible()
    expect(fact(page, "Status")).to_have_text("Under granskning")
    expect(page.get_by_role("table", name="Åtgärder")).to_contain_text("301")
    expect(page.get_by_role("region", name="Frågor från tandvårdssamordningen")).to_contain_text("Tand 36 och 37")

    page.get_by_role("button", name="Godkänn", exact=True).click()
    expect(page.get_by_text("Räkning DEMO-A2 är godkänd och väntar på utbetalning.")).to_be_visible()
    expect(fact(page, "Status")).to_have_text("Godkänd, väntar på utbetalning")
    expect(page.get_by_role("button", name="Godkänn", exact=True)).to_have_count(0)

    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-A2")
    assert (claim.state, claim.approved_on) == (ClaimState.APPROVED, None)
