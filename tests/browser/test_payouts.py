"""A payout in the browser: the coordinator approves a claim under review and runs the payout, the daily job
marks it paid, the clinic's biller sees the invoice under Utbetalda with its Vår referens."""

import pytest
from playwright.sync_api import Page, expect

from claims.models import Claim
from payouts import bankdays, tasks
from payouts.models import PayoutInvoice
from tests.payouts.factories import future_bank_day

from .test_eligibility import BILLER, COORDINATOR_VG, choose_clinic31, log_in, log_out, main_menu


@pytest.mark.browser
def test_coordinator_approves_runs_a_payout_and_the_biller_sees_the_invoice_paid(
    page: Page, live_server, transactional_world
):
    base = live_server.url
    approved = Claim.objects.get(clinic=transactional_world.clinic31, reference="DEMO-A2")  # under granskning
    day = future_bank_day()

    log_in(page, base, COORDINATOR_VG)
    main_menu(page, "Räkningar")
    page.get_by_label("Status").select_option(label="Under granskning")
    page.get_by_role("button", name="Filtrera").click()
    page.get_by_role("link", name="DEMO-A2", exact=True).click()
    page.get_by_role("button", name="Godkänn", exact=True).click()
    expect(page.get_by_text("Räkning DEMO-A2 är godkänd och väntar på utbetalning.")).to_be_visible()

    main_menu(page, "Utbetalningar")
    page.get_by_role("link", name="Ny utbetalningskörning", exact=True).click()
    page.get_by_label("Utbetalningsdatum").fill(day.isoformat())
    page.get_by_role("button", name="Förhandsgranska", exact=True).click()
    page.get_by_role("button", name="Skapa utbetalningskörning", exact=True).click()
    expect(page.get_by_role("heading", name=f"Utbetalning {day.isoformat()}", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Utbetalningskörningen för {day.isoformat()} är skapad")
    our_reference = PayoutInvoice.objects.get(invoice=approved.invoice, payment__run__payout_date=day).our_reference
    invoices_31 = page.get_by_role("table", name="Fakturor för klinik 31")
    expect(invoices_31.get_by_role("row", name=approved.invoice.reference)).to_contain_text(our_reference)
    # Sent to the bank: only a run whose file was downloaded is marked paid.
    with page.expect_download() as download:
        page.get_by_role("button", name="Ladda ner betalningsfil (ISO 20022 pain.001)").click()
    assert download.value.suggested_filename.endswith(".xml")
    log_out(page)

    # The daily job, on the first bank day after the payout date.
    tasks.mark_payouts_paid.delay(today=bankdays.next_bank_day(day).isoformat())

    log_in(page, base, BILLER)
    choose_clinic31(page)
    main_menu(page, "Era fakturor")
    page.get_by_role("navigation", name="Era fakturor").get_by_role("link", name="Utbetalda").click()
    row = page.locator("table.invoices tbody.invoice > tr:first-child", has_text=approved.invoice.reference)
    expect(row).to_contain_text(f"Utbetalningsdatum {day.isoformat()}")
    expect(row).to_contain_text(our_reference)
