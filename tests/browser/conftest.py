"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Playwright's own browser download does not work on our machines, so the browser is the Chromium that
`scripts/ensure_test_tools.sh` (run by `make test`) makes sure is installed: $CHROMIUM_PATH, else the first of
CHROMIUM_CANDIDATES. A missing browser fails the tests; it never skips them.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    """Every test in this folder is a browser test, marked or not: `make test-fast` leaves them all out.

    (A conftest's hook sees the whole session's items, so only those under this folder are marked.)
    """
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


def chromium_path() -> str:
    """The Chromium to drive, or fail the test run with how to get one."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            return configured
        pytest.fail(f"CHROMIUM_PATH={configured} is not an executable file.", pytrace=False)
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "No Chromium for the browser tests: looked at $CHROMIUM_PATH and "
        + ", ".join(CHROMIUM_CANDIDATES)
        + ". Install Debian's Chromium (`sudo apt-get install chromium`, or run `sh scripts/ensure_test_tools.sh` "
        "as root) or set CHROMIUM_PATH. Do not run `playwright install`: its download does not work here.",
        pytrace=False,
    )


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests, stopped when they are done.

    Playwright's sync API keeps an event loop running in the main thread while it is started, which makes
    Django refuse ORM calls from the test body; the tests share no connection with the loop, so the check is
    off for exactly that time. Stopping Playwright after this package keeps the loop out of the other tests.
    """
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
            yield chromium
            chromium.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="sv-SE")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
