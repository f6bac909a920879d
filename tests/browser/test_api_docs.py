"""The API's Swagger UI in a real browser: drawn from our own static files under the Content-Security-Policy."""

import pytest
from playwright.sync_api import Page, expect


@pytest.mark.browser
def test_swagger_ui_shows_the_api_under_the_csp(page: Page, live_server):
    blocked, errors = [], []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security" in message.text else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    hosts = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.get_by_text("/api/v1/eligibility-checks").first).to_be_visible()
    expect(page.get_by_text("/api/v1/tariffs/current").first).to_be_visible()
    assert blocked == [] and errors == []
    assert hosts == {live_server.url.split("/")[2]}
