"""Every screen from 360 px up: at a phone's 390×844 no page of the walk is wider than the screen, for each kind of
demo user (biller, local admin, coordinator, region admin); the header and the closed menu leave most of the screen
to the page; the menu opens without JavaScript; the claim form keeps its price and patient fee on screen."""

import datetime
from urllib.parse import urldefrag, urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from .test_eligibility import BILLER, choose_clinic31, log_in
from .test_register_claim import N_PIN, _price_of_101, open_register

PHONE = {"width": 390, "height": 844}
PAGES_PER_ROLE = 30
# Not pages: downloads, printing, leaving, the API and its documents, files.
SKIPPED = ("logga-ut", "excel", "xlsx", "pdf", "utskrift", "/api/", "/static/", "/media/", "bilagor", "ladda-ner")
ROLES = [
    (BILLER, True),
    ("admin31@demo.test", False),
    ("samordnare.vg@demo.test", False),
    ("regionadmin@demo.test", False),
]


@pytest.fixture
def phone(browser):
    context = browser.new_context(locale="sv-SE", viewport=PHONE)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def _width_excess(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _too_wide(page: Page) -> str:
    """The widest elements that stick out on the right, for the failure message."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter(e => !e.closest('.table-scroll') || e.classList.contains('table-scroll'))
            .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
            .join(', ')"""
    )


def _walk(page: Page, base_url: str) -> list[str]:
    """Breadth first over the portal's own links from the page the user lands on; each page's width checked."""
    start = urldefrag(page.url).url
    seen, queue, walked, wide = {start}, [start], [], []
    while queue and len(walked) < PAGES_PER_ROLE:
        url = queue.pop(0)
        response = page.goto(url)
        if response is None or response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        walked.append(url)
        if _width_excess(page) > 0:
            wide.append(f"{url}: {_width_excess(page)} px too wide ({_too_wide(page)})")
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            link = urldefrag(href).url
            if urlparse(link).netloc != urlparse(base_url).netloc or link in seen:
                continue
            if any(part in link for part in SKIPPED) or "." in urlparse(link).path.rsplit("/", 1)[-1]:
                continue  # not a page (a file's name ends with its kind: .xsd, .xml)
            seen.add(link)
            queue.append(link)
    assert not wide, "\n".join(wide)
    return walked


@pytest.mark.browser
@pytest.mark.parametrize("email,chooses_clinic", ROLES)
def test_no_page_of_the_walk_is_wider_than_a_phone(
    phone: Page, live_server, transactional_world, email, chooses_clinic
):
    log_in(phone, live_server.url, email)
    if chooses_clinic:
        choose_clinic31(phone)
    # The header and the closed menu take little of the screen; the menu opens with a tap, no script needed.
    main_top = phone.evaluate("document.querySelector('main').getBoundingClientRect().top")
    assert main_top < PHONE["height"] / 4, main_top
    menu = phone.get_by_role("navigation", name="Huvudmeny")
    if menu.count():
        expect(menu.get_by_role("link", name="Startsida", exact=True)).to_be_hidden()
        menu.get_by_text("Meny", exact=True).click()
        expect(menu.get_by_role("link", name="Startsida", exact=True)).to_be_visible()

    walked = _walk(phone, live_server.url)

    assert len(walked) >= 5, walked


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, {"width": 768, "height": 1024}, {"width": 1024, "height": 768}])
def test_the_claim_form_keeps_price_and_fee_on_screen_on_a_phone_and_a_tablet(
    browser, live_server, transactional_world, viewport
):
    context = browser.new_context(locale="sv-SE", viewport=viewport)
    context.set_default_timeout(10_000)
    try:
        _claim_form_on_screen(context.new_page(), live_server, transactional_world, viewport)
    finally:
        context.close()


def _claim_form_on_screen(phone: Page, live_server, transactional_world, viewport: dict) -> None:
    day = timezone.localdate() - datetime.timedelta(days=1)
    _price_of_101(transactional_world.vg, day)
    log_in(phone, live_server.url, BILLER)
    choose_clinic31(phone)
    if phone.get_by_text("Meny", exact=True).is_visible():
        phone.get_by_text("Meny", exact=True).click()
    open_register(phone)
    phone.get_by_label("Personnummer").fill(N_PIN)
    phone.get_by_role("button", name="Sök person", exact=True).click()
    phone.get_by_label("Åtgärdsdatum").fill(day.isoformat())
    phone.get_by_label("Åtgärd:", exact=True).fill("101")
    phone.get_by_role("button", name="Lägg till åtgärd", exact=True).click()
    fee = phone.get_by_label(f"Patientavgift {day.isoformat()}")
    expect(fee).to_be_visible()

    assert _width_excess(phone) <= 0, _too_wide(phone)
    for field in (fee, phone.locator("[data-claim-total]"), phone.get_by_label("Åtgärd:", exact=True)):
        field.scroll_into_view_if_needed()
        box = field.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    fee.fill("200")
    expect(phone.locator("[data-claim-total]")).not_to_have_text("")
