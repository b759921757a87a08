"""Browser tests: pytest-django's live server driven by Debian's Chromium through Playwright.

No browser is downloaded: Playwright launches /usr/bin/chromium (scripts/ensure-chromium
installs it). Screenshots of the main pages go to test-artifacts/screenshots/.
"""

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls in
# the same thread are still synchronous and safe here.
from tests.conftest import DESKTOP, PHONE, screenshot_taker


class PageErrors:
    """Console errors and CSP violations seen by a page; a clean page has none."""

    def __init__(self):
        self.items = []

    def attach(self, page):
        page.on("console", lambda msg: msg.type == "error" and self.items.append(msg.text))
        page.on("pageerror", lambda exc: self.items.append(str(exc)))


@pytest.fixture
def page_errors():
    return PageErrors()


def _new_page(browser, page_errors, viewport, base_url):
    context = browser.new_context(viewport=viewport, base_url=base_url, locale="en-US", timezone_id="UTC")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(10_000)
    page_errors.attach(page)
    return context, page


@pytest.fixture
def page(browser, live_server, page_errors):
    context, page = _new_page(browser, page_errors, DESKTOP, live_server.url)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser, live_server, page_errors):
    context, page = _new_page(browser, page_errors, PHONE, live_server.url)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshot():
    return screenshot_taker("")
