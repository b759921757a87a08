"""The playground end to end in headless Chromium (Playwright driving Debian's /usr/bin/chromium).

The main journey: log in, create a widget, make a key pair in the browser,
register its public half, sign a fields array in the browser, verify it, read the
agent preview. Then: an expired token explained, a pasted private key that never
comes back, and the layout at 1280×800 and on a phone. Screenshots of the main
pages land in test-artifacts/screenshots/playground-*.png.
"""

import base64
import json
import re
import time

import pytest
from playwright.sync_api import expect

from keys.models import SigningKey
from tests.conftest import login
from widgets.models import Widget

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "alice-Passw0rd!"


def key_lines(private_pem: str) -> list[str]:
    return [line for line in private_pem.splitlines() if line and "-----" not in line]


def assert_fits(page, width):
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow}px wide in a {width}px viewport"


def test_generate_register_sign_verify_in_the_browser(page, page_log, screenshot, alice, tenant_a):
    sent = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.post_data or "")))
    login(page, "alice", PASSWORD)

    # Create a widget through the portal.
    page.goto(f"/t/{tenant_a.slug}/")
    page.get_by_label("Widget name").fill("Website chat")
    page.get_by_role("button", name="Create widget").click()
    page.wait_for_load_state()
    widget = Widget.objects.get(tenant=tenant_a, name="Website chat")

    # /playground/ opens the tenant's playground on that widget.
    page.goto("/playground/")
    expect(page.get_by_role("heading", name="Playground")).to_be_visible()
    expect(page.get_by_label("Widget", exact=True)).to_have_value(widget.public_id)
    page.get_by_role("link", name="Sign", exact=True).click()
    expect(page.locator("#pg-panel-sign")).to_be_visible()
    assert "tab=sign" in page.url

    # A key pair made by WebCrypto; both halves can be downloaded.
    page.get_by_role("button", name="Generate a test key pair").click()
    expect(page.locator("#pg-key-status")).to_contain_text("New test key pair made in this browser")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download private.pem").click()
    private_pem = open(download.value.path()).read()
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download public.pem").click()
    public_pem = open(download.value.path()).read()
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    screenshot(page, "sign-key-made")

    # One click registers the public half as a test key.
    page.get_by_role("button", name="Register the public key as a test key").click()
    expect(page.locator("#pg-key-status")).to_contain_text("Registered on Website chat as test key")
    key = SigningKey.objects.get(widget=widget)
    assert key.is_test is True and key.name == "Test key (playground)"
    expect(page.locator("#pg-key-registered")).to_contain_text(f"Registered as {key.kid}")

    # Sign a fields array in the browser.
    page.get_by_role("button", name="Fields array").click()
    payload = json.loads(page.get_by_label("Payload (JSON)").input_value())
    assert payload[0] == {"label": "name", "data": "Jane Doe", "type": "string"}
    page.get_by_role("button", name="Sign", exact=True).click()
    token = page.locator("#pg-signed-token").input_value()
    assert token.count(".") == 2
    expect(page.locator("#pg-signed-header")).to_contain_text(key.kid)
    screenshot(page, "sign", full_page=True)

    # The hand-off: one click, a POST, and the production verdict.
    page.get_by_role("button", name="Verify this token →").click()
    page.wait_for_load_state()
    expect(page.locator("#pg-result")).to_contain_text("Verified: the signature is valid (ES256")
    assert "token" not in page.url
    expect(page.get_by_text("a jti is not consumed")).to_be_visible()
    agent = page.locator(".pg-fields")
    expect(agent).to_contain_text("Jane Doe")
    expect(agent.locator(".badge", has_text="Signed")).to_have_count(3)
    expect(page.locator("#pg-h-key").locator("..")).to_contain_text(key.fingerprint_sha256)
    screenshot(page, "verify-ok")
    screenshot(page, "verify-ok-full", full_page=True)

    # The key survived the reload (IndexedDB) and still signs; its private half never left the page.
    page.get_by_role("link", name="Sign", exact=True).click()
    expect(page.locator("#pg-key-status")).to_contain_text("registered on Website chat")
    expect(page.get_by_role("link", name="Download private.pem")).to_be_hidden()
    for line in key_lines(private_pem):
        for method, url, body in sent:
            assert line not in body and line not in url
    assert any(public_pem.splitlines()[1] in body.replace("%2B", "+").replace("%2F", "/") for _, _, body in sent)

    # Forget deletes it.
    page.get_by_role("button", name="Forget this key").click()
    expect(page.locator("#pg-key-status")).to_contain_text("deleted from this browser")
    assert page_log.errors == []


def test_unsigned_data_and_allowlist_in_the_agent_preview(page, page_log, alice, widget_a, registered_ec, ec_key):
    from widgets.services import unsigned_fields_set, widget_update

    widget_update(widget=widget_a, changes={"enforcement": "enforce"})
    unsigned_fields_set(widget=widget_a, labels=["page_url"])
    token = ec_key.sign([{"label": "name", "data": "Jane Doe", "type": "string"}], headers={"kid": "site-1"})
    login(page, "alice", PASSWORD)
    page.goto("/t/acme/playground/")
    page.get_by_label("Token to verify").fill(token)
    page.get_by_label("Unsigned data").fill('{"page_url": "https://shop.example/cart", "coupon": "FREE"}')
    page.get_by_role("button", name=re.compile("Verify against")).click()
    page.wait_for_load_state()
    rows = page.locator(".pg-field")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Signed")
    expect(rows.nth(1)).to_contain_text("Unsigned")
    expect(rows.nth(2)).to_contain_text("not on the widget's unsigned-field allowlist")
    assert page_log.errors == []


def test_expired_token_is_explained(page, page_log, screenshot, alice, widget_a, registered_ec, ec_key, claims):
    now = int(time.time())
    token = ec_key.sign(claims(iat=now - 1200, exp=now - 600), headers={"kid": "site-1"})
    login(page, "alice", PASSWORD)
    page.goto("/t/acme/playground/")
    page.get_by_label("Token to verify").fill(token)
    page.get_by_role("button", name=re.compile("Verify against")).click()
    page.wait_for_load_state()
    verdict = page.locator("#pg-result")
    expect(verdict).to_contain_text("Rejected: expired")
    expect(verdict).to_contain_text(re.compile(r"expired (9|10) min( \d+ s)? ago"))
    expect(verdict).to_contain_text("How to fix:")
    expect(page.locator(".pg-claims")).to_contain_text(re.compile(r"Expired (9|10) min ago"))
    expect(page.locator(".pg-claims")).to_contain_text("Issued 20 min ago")
    expect(page.get_by_text("Nothing reaches the agent")).to_be_visible()
    # The result takes the focus, so a screen reader reads the verdict first.
    assert page.evaluate("document.activeElement.id") == "pg-result"
    screenshot(page, "verify-expired")
    assert page_log.errors == []


def test_pasted_private_key_never_comes_back(page, page_log, screenshot, alice, widget_a, registered_ec, ec_key):
    login(page, "alice", PASSWORD)
    page.goto("/t/acme/playground/?tab=sign")
    page.get_by_label("Paste a private key").check()
    page.get_by_label("Private key (PEM)").fill(ec_key.private_pem)
    page.get_by_role("button", name="Claims object").click()
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("#pg-signed")).to_contain_text("Your key matches site-1")
    expect(page.get_by_label("Private key (PEM)")).to_have_value("")
    expect(page.locator("#pg-private-key-help")).to_contain_text("paste it again")
    token = page.locator("#pg-signed-token").input_value()
    screenshot(page, "sign-pasted-key", full_page=True)

    # A private key pasted into the wrong box is not echoed either.
    page.get_by_role("link", name="Decode").click()
    page.locator("#pg-decode-token").fill(ec_key.private_pem)
    page.get_by_role("button", name="Decode", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("#pg-decode-token-error")).to_contain_text("private key material")

    page.get_by_role("link", name="Verify").click()
    page.get_by_label("Token to verify").fill(token)
    page.get_by_role("button", name=re.compile("Verify against")).click()
    page.wait_for_load_state()
    expect(page.locator("#pg-result")).to_contain_text("Verified")

    assert page_log.bodies, "no response was recorded"
    for url, body in page_log.bodies:
        text = body.decode("utf-8", "replace")
        for line in key_lines(ec_key.private_pem):
            assert line not in text, f"a line of the private key came back in {url}"
    # The refused Decode answered 400 on purpose; nothing else may fail.
    assert [e for e in page_log.errors if "status of 400" not in e] == []


def test_decode_snippets_keyboard_and_phone(page, phone_page, page_log, screenshot, alice, widget_a, registered_ec):
    login(page, "alice", PASSWORD)
    page.goto("/t/acme/playground/")
    assert_fits(page, 1280)
    # Keyboard: the tabs are links, Enter switches in place.
    page.get_by_role("link", name="Decode").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#pg-panel-decode")).to_be_visible()
    expect(page.locator("#pg-panel-verify")).to_be_hidden()
    header = {"alg": "HS256", "kid": "who"}
    parts = [base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=") for p in (header, {"name": "x"})]
    token = ".".join(parts) + ".c2ln"
    page.locator("#pg-decode-token").fill(token)
    page.get_by_role("button", name="Decode", exact=True).click()
    page.wait_for_load_state()
    findings = page.locator(".pg-findings")
    expect(findings).to_contain_text('alg "HS256" is never accepted')
    expect(findings).to_contain_text("kid 'who' is not registered")
    expect(findings).to_contain_text("No exp")
    screenshot(page, "decode")

    page.get_by_role("link", name="Snippets").click()
    expect(page.locator("#pg-snippet-java")).to_contain_text("site-1")
    page.get_by_role("link", name="Fields array").click()
    page.wait_for_load_state()
    expect(page.locator("#pg-code-node")).to_contain_text("CompactSign")
    assert_fits(page, 1280)
    screenshot(page, "snippets")

    # Copy buttons appear with script and copy the code.
    copy = page.locator("#pg-snippet-python-jose").get_by_role("button", name="Copy")
    expect(copy).to_be_visible()

    # Phone width: nothing overflows sideways.
    login(phone_page, "alice", PASSWORD)
    phone_page.goto("/t/acme/playground/")
    assert_fits(phone_page, 375)
    phone_page.get_by_label("Token to verify").fill("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
    phone_page.get_by_role("button", name=re.compile("Verify against")).click()
    phone_page.wait_for_load_state()
    expect(phone_page.locator("#pg-result")).to_contain_text("Rejected")
    assert_fits(phone_page, 375)
    screenshot(phone_page, "phone-verify", full_page=True)
    phone_page.evaluate("window.scrollTo(0, 0)")
    screenshot(phone_page, "phone-top")
    phone_page.goto("/t/acme/playground/?tab=sign")
    assert_fits(phone_page, 375)
    screenshot(phone_page, "phone-sign", full_page=True)
    assert page_log.errors == []


def test_browser_signed_then_encrypted_for_the_tenant(page, page_log, screenshot, alice, widget_a, enc_key_a):
    login(page, "alice", PASSWORD)
    page.goto("/t/acme/playground/?tab=sign")
    page.get_by_role("button", name="Generate a test key pair").click()
    page.get_by_role("button", name="Register the public key as a test key").click()
    expect(page.locator("#pg-key-status")).to_contain_text("Registered on Acme chat")
    page.get_by_role("button", name="Claims for the encrypted flow").click()
    assert "sub" in json.loads(page.get_by_label("Payload (JSON)").input_value())
    page.get_by_label(re.compile("Then encrypt it for Acme")).check()
    page.get_by_role("button", name="Sign", exact=True).click()
    # The page signs in the browser, then posts the JWS (never the key) to be encrypted.
    expect(page.locator("#pg-signed-jwe")).to_be_visible()
    jwe = page.locator("#pg-signed-jwe").input_value()
    jws = page.locator("#pg-signed-token").input_value()
    assert jwe.count(".") == 4 and jws.count(".") == 2
    expect(page.locator("#pg-signed")).to_contain_text("RSA-OAEP-256")
    screenshot(page, "sign-encrypted", full_page=True)
    page.get_by_role("button", name="Verify this encrypted token →").click()
    page.wait_for_load_state()
    expect(page.locator("#pg-result")).to_contain_text("Verified")
    expect(page.locator("#pg-result")).to_contain_text("after decryption")
    expect(page.get_by_text("Encryption layer (JWE)")).to_be_visible()
    assert page_log.errors == []
