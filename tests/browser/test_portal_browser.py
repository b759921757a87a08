"""End to end in Chromium: the demo login, a widget, a key pasted, checked and revoked,
an API key shown once; screenshots of the main pages at 1280×800 and 375 px wide."""

import hashlib
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from playwright.sync_api import expect

from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "Demo-Passw0rd-42"


def new_ec_key():
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # What `openssl pkey -pubin -in public.pem -outform DER | sha256sum` prints.
    fingerprint = hashlib.sha256(der).hexdigest()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, fingerprint, private_pem


@pytest.fixture
def demo(monkeypatch, tmp_path):
    """The `make run` demo: tenant 'demo', widget 'Website chat', login demo / DEMO_PASSWORD."""
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    call_command("setup_demo", password_file=str(tmp_path / "demo-password"))
    return "demo", DEMO_PASSWORD


def no_horizontal_overflow(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_demo_admin_journey(page, demo, screenshot, page_errors):
    # Login page, then the demo login.
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="Log in to Signet")).to_be_visible()
    screenshot(page, "login")
    login(page, *demo)

    # Dashboard with the demo widget and the create form.
    expect(page).to_have_url(re.compile(r"/t/demo/$"))
    expect(page.get_by_role("heading", name="Widgets", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Website chat")).to_be_visible()
    screenshot(page, "dashboard")

    # Create a widget: lands on its key section with the next step spelled out.
    page.get_by_label("Widget name").fill("Support chat")
    page.get_by_role("button", name="Create widget").click()
    expect(page).to_have_url(re.compile(r"/t/demo/widgets/wgt_[^/]+/#keys$"))
    expect(page.get_by_role("heading", name="Support chat", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Register the public key your back end signs with")).to_be_visible()
    expect(page.get_by_text("openssl ecparam -genkey -name prime256v1 -noout -out ec_private.pem")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "widget-new", full_page=True)

    # Paste a public key: its fingerprint is shown, the same as openssl's.
    pem, fingerprint, _ = new_ec_key()
    key_form = page.locator("form[action$='/keys/add']")
    key_form.get_by_label("Public key").fill(pem)
    key_form.get_by_label("Key ID (kid)").fill("web-2025")
    key_form.get_by_label("Name").fill("Website 2025")
    key_form.get_by_role("button", name="Register key").click()
    expect(page.get_by_text("Key 'web-2025' registered")).to_be_visible()
    key_card = page.locator("article.key", has_text="web-2025")
    expect(key_card.locator(".fingerprint").first).to_have_text(fingerprint)
    expect(key_card.get_by_text("Status: Active")).to_be_visible()
    expect(key_card.get_by_text("ES256")).to_be_visible()
    # Copy buttons are revealed by signet.js (progressive enhancement).
    expect(key_card.get_by_role("button", name="Copy fingerprint")).to_be_visible()
    copy = key_card.locator(f'button[data-copy="{fingerprint}"]')
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == fingerprint
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "widget", full_page=True)

    # Revoke with confirmation: the last active key is called out.
    key_card.get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", name="Revoke signing key")).to_be_visible()
    expect(page.get_by_text("This is the last active key of this widget")).to_be_visible()
    screenshot(page, "key-revoke")
    page.get_by_label(re.compile("Reason")).fill("test rotation")
    page.get_by_role("button", name="Revoke anyway").click()
    expect(page.get_by_text("Key 'web-2025' revoked")).to_be_visible()
    expect(page.locator("article.key", has_text="web-2025").get_by_text("Status: Revoked")).to_be_visible()

    # API keys: created, shown once, then only its prefix.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.get_by_label(re.compile("^Name")).fill("chat-backend-prod")
    page.get_by_role("button", name="Create API key").click()
    secret = page.locator("#new-api-key")
    expect(secret).to_have_text(re.compile(r"^sgn_[0-9a-f]{12}_\S{43}$"))
    raw = secret.inner_text()
    screenshot(page, "api-keys")
    page.goto(page.url)
    assert raw not in page.content()

    assert no_horizontal_overflow(page)
    assert page_errors.items == [], page_errors.items


def test_phone_width_widget_page(phone_page, demo, screenshot, page_errors):
    login(phone_page, *demo)
    phone_page.get_by_role("link", name="Website chat").click()
    expect(phone_page.get_by_role("heading", name="Website chat", level=1)).to_be_visible()
    assert no_horizontal_overflow(phone_page), "the widget page must not scroll sideways at 375 px"
    screenshot(phone_page, "widget-phone-375", full_page=True)
    phone_page.goto("/t/demo/")
    assert no_horizontal_overflow(phone_page)
    screenshot(phone_page, "dashboard-phone-375")
    assert page_errors.items == [], page_errors.items


def test_phone_width_table_pages_scroll_inside_their_table(phone_page, demo, screenshot, page_errors):
    # A table wider than the phone scrolls inside its box; its visually-hidden header text (absolutely
    # positioned) used to escape the box and made the whole API keys page scroll sideways.
    from portal.models import Tenant
    from portal.services import api_key_create

    api_key_create(tenant=Tenant.objects.get(slug="demo"), name="chat-backend-prod")
    login(phone_page, *demo)
    for path in ("/t/demo/api-keys/", "/t/demo/members/", "/t/demo/audit/"):
        phone_page.goto(path)
        assert no_horizontal_overflow(phone_page), f"{path} scrolls sideways at 375 px"
    expect(phone_page.get_by_text("chat-backend-prod")).to_be_visible()
    screenshot(phone_page, "api-keys-phone-375", full_page=True)
    assert page_errors.items == [], page_errors.items


def test_private_key_paste_is_refused_and_cleared(page, demo, screenshot):
    login(page, *demo)
    page.get_by_role("link", name="Website chat").click()
    _, _, private_pem = new_ec_key()
    key_form = page.locator("form[action$='/keys/add']")
    key_form.get_by_label("Public key").fill(private_pem)
    key_form.get_by_role("button", name="Register key").click()
    textarea = page.get_by_label("Public key")
    expect(textarea).to_have_value("")
    expect(textarea).to_be_focused()
    expect(page.locator("#key_public_key_error")).to_contain_text("private key")
    page.wait_for_timeout(1000)
    screenshot(page, "key-private-refused")
    secret_line = private_pem.strip().splitlines()[1]
    assert secret_line not in page.content()


def test_settings_refusal_and_keyboard(page, demo, screenshot):
    login(page, *demo)
    page.get_by_role("link", name="Website chat").click()
    settings = page.locator("form[action$='/settings']")
    settings.get_by_label("Clock leeway (seconds)").fill("9999")
    settings.get_by_label(re.compile("Enforce: signed data required")).check()
    settings.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Nothing was saved")).to_be_visible()
    leeway = page.get_by_label("Clock leeway (seconds)")
    expect(leeway).to_be_focused()
    expect(page.locator("#id_leeway_seconds_error")).to_be_visible()
    page.wait_for_timeout(1000)
    screenshot(page, "widget-settings-refused")
    # Fix it from the keyboard and save.
    leeway.fill("30")
    leeway.press("Enter")
    expect(page.get_by_text("Settings saved")).to_be_visible()
    expect(page.locator(".page-head .badge")).to_contain_text("Enforce")


def test_tenant_switcher(page, demo, live_server):
    from django.contrib.auth import get_user_model

    from portal.models import Role
    from portal.services import membership_set, tenant_create

    other = tenant_create(slug="other-co", name="Other Co")
    membership_set(tenant=other, user=get_user_model().objects.get(username="demo"), role=Role.VIEWER)
    login(page, *demo)
    page.locator("details.switcher summary").click()
    page.get_by_role("link", name=re.compile("Other Co")).click()
    expect(page).to_have_url(re.compile(r"/t/other-co/$"))
    expect(page.locator("details.switcher summary")).to_contain_text("Other Co")
    expect(page.get_by_text("No widgets yet")).to_be_visible()
    expect(page.get_by_role("button", name="Create widget")).to_have_count(0)
