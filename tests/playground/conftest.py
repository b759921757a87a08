"""Playground fixtures: page helpers for the view tests, and Chromium for the browser tests.

Playwright's sync API runs an event loop in the test thread, which Django refuses to
touch the database from unless told it is safe (it is: the ORM calls stay synchronous).
No browser is downloaded: Playwright drives Debian's /usr/bin/chromium.
"""

import itertools

import pytest

from tests.conftest import DESKTOP, PHONE, screenshot_taker


def url(tenant="acme"):
    return f"/t/{tenant}/playground/"


@pytest.fixture(scope="session")
def rsa3072_pool():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return [rsa.generate_private_key(public_exponent=65537, key_size=3072) for _ in range(2)]


@pytest.fixture
def enc_key_a(tenant_a, monkeypatch, rsa3072_pool):
    """An active platform encryption key for tenant A (from a pre-generated pool: RSA-3072 is slow)."""
    from keys import jose, platform

    pool = itertools.cycle(rsa3072_pool)
    monkeypatch.setattr(jose, "generate_platform_rsa_key", lambda: next(pool))
    platform._keyrings.clear()
    yield platform.encryption_key_create(tenant=tenant_a)
    platform._keyrings.clear()


# --- browser ------------------------------------------------------------------------------


class PageLog:
    """Console errors, page errors and every response body a page received."""

    def __init__(self):
        self.errors = []
        self.bodies = []

    def attach(self, page):
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("response", self._keep)

    def _keep(self, response):
        try:
            self.bodies.append((response.url, response.body()))
        except Exception:  # redirects and aborted responses have no body
            pass


@pytest.fixture
def page_log():
    return PageLog()


def _context(browser, live_server, page_log, viewport):
    context = browser.new_context(
        viewport=viewport, base_url=live_server.url, locale="en-US", timezone_id="UTC", accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page_log.attach(page)
    return context, page


@pytest.fixture
def page(browser, live_server, page_log):
    context, page = _context(browser, live_server, page_log, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser, live_server, page_log):
    context, page = _context(browser, live_server, page_log, PHONE)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshot():
    return screenshot_taker("playground-")
