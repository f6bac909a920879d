"""A change of the clinic's bankgiro in the browser: admin A asks, nothing changes; admin B confirms, the clinic's
page shows the new account."""

import re

import pytest
from playwright.sync_api import Page, expect

from clinics.models import ClinicMembership, ClinicRole, User

from .test_eligibility import PASSWORD, fact, log_in, log_out, main_menu

ADMIN_A = "admin31@demo.test"
ADMIN_B = "admin31b@demo.test"


@pytest.mark.browser
def test_admin_a_requests_a_new_bankgiro_and_admin_b_confirms_it(page: Page, live_server, transactional_world):
    base = live_server.url
    clinic = transactional_world.clinic31
    second = User.objects.create_user(email=ADMIN_B, password=PASSWORD, name="Bea Bokhållare")
    ClinicMembership.objects.create(user=second, clinic=clinic, role=ClinicRole.LOCAL_ADMIN)

    log_in(page, base, ADMIN_A)
    main_menu(page, "Klinikadministration")
    page.get_by_role("link", name="Ändra uppgifter", exact=True).click()
    page.get_by_label("Bankgiro-/plusgironummer:", exact=True).fill("555-9877")
    page.get_by_role("button", name="Spara", exact=True).click()
    expect(page.get_by_role("heading", name="Klinikadministration", level=1)).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Ändringen av kontot väntar på bekräftelse")
    expect(page.get_by_text("Ändringen till BG 555-9877 väntar på bekräftelse.")).to_be_visible()
    expect(fact(page, "Utbetalning till")).to_have_text("BG 555-1239")  # the old account until confirmed
    expect(page.get_by_role("button", name="Bekräfta ändringen")).to_have_count(0)
    log_out(page)

    log_in(page, base, ADMIN_B)
    main_menu(page, "Klinikadministration")
    page.get_by_role("button", name="Bekräfta ändringen", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Ändringen är bekräftad: utbetalningar går nu till BG 555-9877.")
    expect(fact(page, "Utbetalning till")).to_have_text("BG 555-9877")
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Startsida", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("31 Folktandvården Demostaden"))
    expect(fact(page, "Utbetalning till")).to_have_text("BG 555-9877")
    clinic.refresh_from_db()
    assert clinic.account_number == "5559877"
