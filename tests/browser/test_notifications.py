"""Aviseringar in a browser: the coordinator asks about a claim of clinic 31, the clinic's biller sees the bell's
count go up and the entry in the inbox, opens the claim from it and answers; the coordinator is told of the answer
and sees it on the claim. Celery is eager in the tests: the notifications are made when the commit is made."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from claims.models import Claim
from notifications.models import Notification

from .test_eligibility import BILLER, COORDINATOR_VG, choose_clinic31, log_in, log_out


def bell(page: Page):
    return page.get_by_role("link", name=re.compile(r"^Aviseringar"))


def unread(email: str) -> int:
    return Notification.objects.filter(recipient__email=email, read_at__isnull=True).count()


@pytest.mark.browser
def test_a_question_and_its_answer_reach_each_side_through_the_bell(page: Page, live_server, transactional_world):
    world = transactional_world
    claim = Claim.objects.get(clinic=world.clinic31, reference="DEMO-A2")
    before = unread(BILLER)

    # The coordinator asks.
    log_in(page, live_server.url, COORDINATOR_VG)
    page.goto(
        live_server.url + reverse("review_claim_detail", kwargs={"region_code": world.vg.code, "claim_pk": claim.pk})
    )
    page.get_by_label("Fråga till kliniken").fill("Vilken yta på tand 36?")
    page.get_by_role("button", name="Skicka frågan").click()
    expect(page.get_by_role("region", name="Frågor från tandvårdssamordningen")).to_contain_text("Vilken yta")
    log_out(page)

    # The biller sees the bell's count one higher, and the entry first in the inbox.
    log_in(page, live_server.url, BILLER)
    choose_clinic31(page)
    expect(bell(page)).to_have_text(f"Aviseringar ({before + 1} olästa)")
    bell(page).click()
    expect(page.get_by_role("heading", name="Aviseringar", level=1)).to_be_visible()
    entry = page.locator("li.notification").first
    expect(entry).to_contain_text("Oläst")
    expect(entry).to_contain_text("Tandvårdssamordningen har en fråga om räkning DEMO-A2.")

    # From the entry to the claim, and the answer.
    entry.get_by_role("link", name="Tandvårdssamordningen har en fråga om räkning DEMO-A2.").click()
    page.get_by_label("Ert svar").fill("Ocklusalt.")
    page.get_by_role("button", name="Skicka svar").click()
    expect(page.locator(".question__answer", has_text="Ocklusalt.")).to_be_visible()

    # Markera som läst: the entry is read, the bell one lower.
    bell(page).click()
    entry = page.locator("li.notification").first
    entry.get_by_role("button", name=re.compile("^Markera som läst")).click()
    expect(page.locator("li.notification").first).not_to_contain_text("Oläst")
    expect(bell(page)).to_have_text(re.compile(rf"^Aviseringar( \({before} olästa\))?$"))
    log_out(page)

    # The coordinator is told of the answer and sees it on the claim.
    log_in(page, live_server.url, COORDINATOR_VG)
    expect(bell(page)).to_have_text(re.compile(r"^Aviseringar \(\d+ olästa\)$"))
    bell(page).click()
    entry = page.locator("li.notification").first
    expect(entry).to_contain_text("Kliniken har svarat på din fråga om räkning DEMO-A2.")
    entry.get_by_role("link", name="Kliniken har svarat på din fråga om räkning DEMO-A2.").click()
    expect(page.get_by_role("heading", name="Räkning DEMO-A2", level=1)).to_be_visible()
    questions = page.get_by_role("region", name="Frågor från tandvårdssamordningen")
    expect(questions).to_contain_text("Ocklusalt.")
    expect(questions).to_contain_text("Besvarad av")
