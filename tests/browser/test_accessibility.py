"""What a keyboard or screen-reader user meets first: the skip link and the page landmarks."""

import pytest
from playwright.sync_api import Page, expect

SKIP_LINK = "Hoppa till huvudinnehållet"


@pytest.mark.browser
def test_first_tab_on_login_page_focuses_the_skip_link(page: Page, live_server):
    page.goto(f"{live_server.url}/logga-in/")

    page.keyboard.press("Tab")

    expect(page.get_by_role("link", name=SKIP_LINK)).to_be_focused()


@pytest.mark.browser
def test_skip_link_is_first_in_tab_order_and_moves_focus_to_main(page: Page, live_server, transactional_world):
    page.goto(f"{live_server.url}/logga-in/")
    page.get_by_label("E-postadress").fill("admin31@demo.test")
    page.get_by_label("Lösenord").fill("tandvard-demo")
    page.get_by_role("button", name="Logga in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("31 Folktandvården Demostaden")

    page.keyboard.press("Tab")

    skip_link = page.get_by_role("link", name=SKIP_LINK)
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()  # off-screen until focused
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()


@pytest.mark.browser
def test_login_page_has_main_banner_and_contentinfo_landmarks(page: Page, live_server):
    page.goto(f"{live_server.url}/logga-in/")

    main, banner, contentinfo = page.get_by_role("main"), page.get_by_role("banner"), page.get_by_role("contentinfo")
    expect(main).to_have_count(1)
    expect(banner).to_have_count(1)
    expect(contentinfo).to_have_count(1)
    expect(main.get_by_role("heading", name="Logga in", level=1)).to_be_visible()
    expect(banner).to_contain_text("Tandportalen")
    expect(contentinfo).to_contain_text("Tandportalen")
