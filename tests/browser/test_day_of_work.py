"""The day's work in a browser (issue 14): the coordinator asks about a claim, the clinic's biller sees the bell's
count and the start page's line, follows it to the claim and answers, and the coordinator's Räkningar says
"Besvarad"; a credit made today on an invoice older than 30 days shows under Kreditfakturor."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from claims.models import Claim, ClaimState, Invoice
from notifications.models import Notification

from .test_eligibility import BILLER, COORDINATOR_VG, choose_clinic31, log_in, log_out, main_menu


def _bell(page: Page):
    return page.get_by_role("link", name=re.compile(r"^Aviseringar"))


@pytest.mark.browser
def test_a_question_is_seen_on_the_bell_and_the_start_page_answered_and_seen_answered(
    page: Page, live_server, transactional_world
):
    world = transactional_world
    base = live_server.url
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-A2")
    unread_before = Notification.objects.filter(recipient__email=BILLER, read_at__isnull=True).count()

    # The coordinator asks from the claim's page in Räkningar.
    log_in(page, base, COORDINATOR_VG)
    page.goto(base + reverse("review_claim_detail", kwargs={"region_code": world.vg.code, "claim_pk": claim.pk}))
    page.get_by_label("Fråga till kliniken").fill("Vilken yta på tand 36?")
    page.get_by_role("button", name="Skicka frågan").click()
    expect(page.get_by_role("region", name="Frågor från tandvårdssamordningen")).to_contain_text("Vilken yta")
    log_out(page)

    # The biller's start page: the bell one higher, and the line of questions to answer.
    log_in(page, base, BILLER)
    choose_clinic31(page)
    expect(_bell(page)).to_have_text(f"Aviseringar ({unread_before + 1} olästa)")
    line = page.locator("ul.waiting-lines > li[data-line='questions']")
    expect(line).to_contain_text(re.compile(r"\d+ fråg(a|or) från tandvårdssamordningen att besvara"))

    # The line leads to Era fakturor showing the invoices with a question waiting; the claim is in there.
    line.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Era fakturor", level=1)).to_be_visible()
    invoice = page.locator("tbody.invoice", has=page.get_by_role("rowheader", name=claim.invoice.reference, exact=True))
    invoice.locator("summary").first.click()
    invoice.get_by_role("link", name="DEMO-A2", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("DEMO-A2")
    page.get_by_label("Ert svar").fill("Ocklusalt.")
    page.get_by_role("button", name="Skicka svar").click()
    expect(page.locator(".question__answer", has_text="Ocklusalt.")).to_be_visible()
    log_out(page)

    # The coordinator's Räkningar, as it opens (att hantera): the claim says Besvarad.
    log_in(page, base, COORDINATOR_VG)
    main_menu(page, "Räkningar")
    row = page.locator("table.review-claims tbody tr", has=page.get_by_role("link", name="DEMO-A2", exact=True))
    expect(row).to_have_count(1)
    expect(row.locator("td").last).to_have_text("Besvarad")


@pytest.mark.browser
def test_a_credit_made_today_on_an_invoice_older_than_30_days_shows_under_kreditfakturor(
    page: Page, live_server, transactional_world
):
    world = transactional_world
    base = live_server.url
    # A paid claim of clinic 31 on an invoice that came in 45 days ago: outside Era fakturor's default 30 days.
    claim = (
        Claim.objects.filter(clinic=world.clinic31, state=ClaimState.PAID)
        .exclude(lines__credit__isnull=False)
        .exclude(invoice__credit_invoices__isnull=False)
        .order_by("pk")
        .first()
    )
    assert claim is not None
    received = timezone.now() - datetime.timedelta(days=45)
    Invoice.objects.filter(pk=claim.invoice_id).update(received_at=received)

    log_in(page, base, BILLER)
    choose_clinic31(page)
    # Kreditera: tick the claim's first line and credit it, today.
    page.goto(base + reverse("invoice_claim_credit", kwargs={"clinic_pk": world.clinic31.pk, "claim_pk": claim.pk}))
    page.locator("input[type='checkbox'][name='lines']").first.check()
    page.get_by_role("button", name="Kreditera", exact=True).click()
    expect(page.locator("div.messages")).to_be_visible()

    # Kreditfakturor as it opens (the last 30 days, by the credit's date): the old invoice is there.
    main_menu(page, "Era fakturor")
    page.get_by_role("link", name="Kreditfakturor", exact=True).click()
    invoice = page.locator("tbody.invoice", has=page.get_by_role("rowheader", name=claim.invoice.reference, exact=True))
    expect(invoice).to_have_count(1)
    expect(invoice.locator("tr").first.locator("td").first).to_have_text(received.astimezone().strftime("%Y-%m-%d"))
    invoice.locator("summary").first.click()
    expect(
        invoice.get_by_role("table", name=re.compile(f"Kreditfakturor för {re.escape(claim.invoice.reference)}"))
    ).to_contain_text(timezone.localdate().isoformat())
