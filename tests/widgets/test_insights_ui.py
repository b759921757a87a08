"""Issue 9 in the portal: the widget page's enforce preview and key shares, the revoke
confirmation's numbers, the dashboard's expiry warnings, and monitor mode through the API.

People (tests/conftest.py): alice owns tenant A (acme), bob is a viewer of A,
charlie an admin of tenant B (globex).
"""

import time
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.urls import reverse
from django.utils.html import escape

from keys.models import KeyStatus, SigningKey
from keys.services import signing_key_register, signing_key_revoke
from tests.conftest import SCREENSHOTS
from widgets import insights, outcomes
from widgets.models import VerificationLog
from widgets.services import unsigned_fields_set, widget_update

pytestmark = pytest.mark.django_db


def url(name, widget=None, tenant="acme", **kw):
    if widget is not None:
        kw["widget_id"] = widget.public_id
    return reverse(f"widgets:{name}", kwargs={"tenant_slug": tenant, **kw})


def log(widget, code, *, minutes_ago=5, **extra):
    return VerificationLog.objects.create(
        widget=widget, at=datetime.now(tz=UTC) - timedelta(minutes=minutes_ago), code=code, **extra
    )


@pytest.fixture
def second_key(widget_a, ec_key_2):
    key, _ = signing_key_register(widget=widget_a, public_key=ec_key_2.public_pem, kid="site-2")
    return key


@pytest.fixture
def monitored_week(widget_a, registered_ec, second_key):
    """A known week in monitor mode: 12 chats, 3 of them would be refused, 1 sent a field enforce drops.

    8 verified (6 with site-1, 2 with site-2); 2 would_reject bad_signature, 1 would_reject expired;
    1 unsigned-only chat whose 'coupon' enforce would drop; one 8-day-old row outside the window.
    """
    widget_update(widget=widget_a, changes={"enforcement": "monitor"})
    for minutes in range(6):
        log(widget_a, "ok", minutes_ago=10 + minutes, kid="site-1", alg="ES256")
    for minutes in range(2):
        log(widget_a, "ok", minutes_ago=60 * 24 * 3 + minutes, kid="site-2", alg="ES256")
    log(widget_a, "unsigned", would_reject="bad_signature", minutes_ago=30)
    log(widget_a, "unsigned", would_reject="bad_signature", minutes_ago=60 * 30)
    log(widget_a, "unsigned", would_reject="expired", minutes_ago=60 * 24 * 5)
    log(widget_a, "unsigned", unsigned_labels=["coupon"], rejected_labels=["coupon"], minutes_ago=90)
    log(widget_a, "bad_signature", minutes_ago=60 * 24 * 8)
    widget_a.refresh_from_db()
    return widget_a


# --- the widget page: enforce preview ------------------------------------------


def test_preview_shows_numbers_reasons_and_fixes(alice_client, monitored_week):
    response = alice_client.get(url("detail", monitored_week))
    assert response.status_code == 200
    html = response.text
    assert "Before you switch to Enforce" in html
    assert "In the last 7 days <strong>3 of 12 chats (25 %)</strong> would have been refused:" in html
    assert "<code>bad_signature</code> × 2" in html and "<code>expired</code> × 1" in html
    assert escape(insights.FIXES["bad_signature"]) in html
    assert escape(insights.FIXES["expired"]) in html
    assert "1 chat sent unsigned fields that Enforce would drop" in html
    assert url("insights", monitored_week) in html
    # The preview sits in the settings section, before the enforcement radios.
    settings_at = html.index('id="settings"')
    assert settings_at < html.index('id="enforce-preview"') < html.index('name="enforcement"')


def test_preview_matches_the_insights_figures(alice_client, monitored_week):
    figures = insights.summarize(monitored_week, "7d")["enforce_preview"]
    assert (figures["chats"], figures["would_be_refused"], figures["would_drop_unsigned"]) == (12, 3, 1)
    preview = alice_client.get(url("detail", monitored_week)).context["preview"]
    assert preview["would_be_refused"] == 3 and preview["percent"] == 25.0


def test_preview_visible_to_viewers(bob_client, monitored_week):
    html = bob_client.get(url("detail", monitored_week)).text
    assert "<strong>3 of 12 chats (25 %)</strong> would have been refused" in html


def test_key_cards_show_seven_day_share(alice_client, monitored_week, registered_ec, second_key):
    html = alice_client.get(url("detail", monitored_week)).text
    card_1 = html[html.index(f'id="key-{registered_ec.pk}"') :]
    card_1 = card_1[: card_1.index("</article>")]
    card_2 = html[html.index(f'id="key-{second_key.pk}"') :]
    card_2 = card_2[: card_2.index("</article>")]
    assert "Verified, last 7 days" in card_1
    assert "6 tokens" in card_1 and "(75 % of this widget's)" in card_1
    assert "2 tokens" in card_2 and "(25 % of this widget's)" in card_2


def test_empty_state_recommends_monitor(alice_client, widget_a, registered_ec):
    html = alice_client.get(url("detail", widget_a)).text
    assert widget_a.enforcement == "off"
    assert "No verifications in the last 7 days yet" in html
    assert "Switch to <strong>Monitor</strong> first" in html
    assert "would have been refused" not in html
    card = html[html.index(f'id="key-{registered_ec.pk}"') :]
    assert "Verified, last 7 days</dt><dd>none" in card


def test_empty_state_in_monitor_mode(alice_client, widget_a):
    widget_update(widget=widget_a, changes={"enforcement": "monitor"})
    html = alice_client.get(url("detail", widget_a)).text
    assert "No verifications in the last 7 days yet" in html and "Monitor is on" in html


def test_enforce_mode_shows_what_was_refused(alice_client, widget_a, registered_ec):
    widget_update(widget=widget_a, changes={"enforcement": "enforce"})
    for _ in range(3):
        log(widget_a, "ok", kid="site-1")
    log(widget_a, "replayed")
    html = alice_client.get(url("detail", widget_a)).text
    assert "Refused in the last 7 days" in html and "Before you switch to Enforce" not in html
    assert "<strong>1 of 4 chats (25 %)</strong> was refused:" in html
    assert "<code>replayed</code> × 1" in html


def test_buffered_rows_count_on_the_page(alice_client, api_a, widget_a):
    """Verifications still in this process's log buffer show at once."""
    body = {"signed_interaction_data": "not-a-token"}
    assert api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", body)[0] == 422
    assert VerificationLog.objects.count() == 0
    html = alice_client.get(url("detail", widget_a)).text
    assert "<strong>1 of 1 chat (100 %)</strong> would have been refused" in html


def test_widget_page_query_count(alice_client, monitored_week, django_assert_max_num_queries):
    # session, user, membership (tenant_view), widget, keys (+created_by), unsigned fields, switcher,
    # session save (savepoint, update, release) = 10; summarize(7d): outcomes by slot and code,
    # would_reject codes, verified per kid, keys, unsigned labels, allowlist, one aggregate of 3 counts = 7.
    with django_assert_max_num_queries(17):
        alice_client.get(url("detail", monitored_week))


# --- revoke confirmation ---------------------------------------------------------


@pytest.fixture
def in_use(widget_a, registered_ec, second_key):
    """site-1 verified 3 tokens in the last 24 h, site-2 one: site-1 has 75 % of them."""
    for minutes in (20, 90, 600):
        log(widget_a, "ok", minutes_ago=minutes, kid="site-1")
    log(widget_a, "ok", minutes_ago=5, kid="site-2")
    log(widget_a, "ok", minutes_ago=60 * 30, kid="site-1")  # outside the 24 hours
    return registered_ec


def test_revoke_confirmation_shows_usage(alice_client, widget_a, in_use):
    response = alice_client.get(url("key_revoke", widget_a, kid="site-1"))
    assert response.status_code == 200
    html = response.text
    assert (
        "This key verified <strong>3 tokens in the last 24 hours (75 % of this widget's verified tokens)</strong>"
        ", most recently 20" in html
    )
    assert "used in the last 24 hours" in html
    assert 'name="confirm_in_use"' in html and "Revoke anyway" in html


def test_revoke_in_use_key_needs_the_checkbox(alice_client, widget_a, in_use):
    target = url("key_revoke", widget_a, kid="site-1")
    response = alice_client.post(target, {"reason": "rotated"})
    assert response.status_code == 400
    assert "Tick the box to confirm" in response.text
    assert "3 tokens in the last 24 hours" in response.text
    assert SigningKey.objects.get(pk=in_use.pk).status == KeyStatus.ACTIVE

    response = alice_client.post(target, {"reason": "rotated", "confirm_in_use": "yes"})
    assert response.status_code == 302 and response["Location"].endswith("#keys")
    assert SigningKey.objects.get(pk=in_use.pk).status == KeyStatus.REVOKED


def test_revoke_key_unused_in_24h_needs_no_checkbox(alice_client, widget_a, registered_ec, second_key):
    log(widget_a, "ok", minutes_ago=60 * 30, kid="site-1")  # 30 hours ago
    log(widget_a, "ok", minutes_ago=5, kid="site-2")
    target = url("key_revoke", widget_a, kid="site-1")
    page = alice_client.get(target).text
    assert 'name="confirm_in_use"' not in page and "Safe to revoke" in page
    response = alice_client.post(target, {"reason": "rotated"})
    assert response.status_code == 302
    assert SigningKey.objects.get(pk=registered_ec.pk).status == KeyStatus.REVOKED


def test_revoke_recent_last_used_without_log_rows_still_needs_the_checkbox(alice_client, widget_a, registered_ec):
    """last_used_at says in use even when the log has no row (pruned, or another process's buffer)."""
    SigningKey.objects.filter(pk=registered_ec.pk).update(last_used_at=datetime.now(tz=UTC) - timedelta(hours=1))
    target = url("key_revoke", widget_a, kid="site-1")
    assert 'name="confirm_in_use"' in alice_client.get(target).text
    assert alice_client.post(target, {}).status_code == 400
    assert SigningKey.objects.get(pk=registered_ec.pk).status == KeyStatus.ACTIVE


def test_revoke_keeps_last_active_key_warning(alice_client, widget_a, registered_ec):
    log(widget_a, "ok", kid="site-1")
    html = alice_client.get(url("key_revoke", widget_a, kid="site-1")).text
    assert "This is the last active key of this widget" in html
    assert "1 token in the last 24 hours (100 % of this widget's verified tokens)" in html


def test_revoke_other_tenant_is_404(charlie_client, widget_a, in_use):
    assert charlie_client.post(url("key_revoke", widget_a, kid="site-1"), {"confirm_in_use": "yes"}).status_code == 404
    assert SigningKey.objects.get(pk=in_use.pk).status == KeyStatus.ACTIVE


# --- dashboard expiry warnings ------------------------------------------------------


def certificate_pem(days_left: float) -> str:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signet-test.example")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=300))
        .not_valid_after(now + timedelta(days=days_left))
        .sign(private, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fresh_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def expiring(widget_a, widget_b):
    now = datetime.now(UTC)
    soon, _ = signing_key_register(
        widget=widget_a, public_key=fresh_pem(), kid="soon-1", expires_at=now + timedelta(days=10)
    )
    later, _ = signing_key_register(
        widget=widget_a, public_key=fresh_pem(), kid="later-1", expires_at=now + timedelta(days=60)
    )
    cert, _ = signing_key_register(widget=widget_a, public_key=certificate_pem(5), kid="cert-1")
    gone, _ = signing_key_register(
        widget=widget_a, public_key=fresh_pem(), kid="gone-1", expires_at=now + timedelta(days=3)
    )
    signing_key_revoke(key=gone)
    theirs, _ = signing_key_register(
        widget=widget_b, public_key=fresh_pem(), kid="globex-soon", expires_at=now + timedelta(days=10)
    )
    return {"soon": soon, "later": later, "cert": cert, "gone": gone, "theirs": theirs}


def test_dashboard_warns_about_expiring_keys_and_certificates(alice_client, widget_a, expiring):
    assert expiring["cert"].certificate_not_after is not None
    html = alice_client.get(url("dashboard")).text
    assert "Signing keys and certificates to renew" in html
    block = html[html.index('class="callout callout-warn expiry-warnings"') :]
    block = block[: block.index("</section>")]
    detail = url("detail", widget_a)
    assert f'href="{detail}#key-{expiring["soon"].pk}"' in block
    assert f'href="{detail}#key-{expiring["cert"].pk}"' in block
    assert "soon-1</span> on Acme chat" in block and "the key expires" in block
    assert "cert-1</span> on Acme chat" in block and "its certificate expires" in block
    # Soonest first: the certificate (5 days) before the key (10 days).
    assert block.index("cert-1") < block.index("soon-1")
    assert "later-1" not in block and "gone-1" not in block
    assert "globex-soon" not in html


def test_dashboard_warns_about_a_certificate_already_past(alice_client, widget_a, registered_ec):
    SigningKey.objects.filter(pk=registered_ec.pk).update(
        certificate_not_after=datetime.now(UTC) - timedelta(days=2), source_format="certificate"
    )
    html = alice_client.get(url("dashboard")).text
    assert "site-1</span> on Acme chat" in html and "its certificate expired" in html and "ago)" in html


def test_dashboard_has_no_warning_block_without_expiring_keys(alice_client, widget_a, registered_ec):
    assert "expiry-warnings" not in alice_client.get(url("dashboard")).text


def test_other_tenant_sees_only_its_own_warnings(charlie_client, expiring):
    html = charlie_client.get(url("dashboard", tenant="globex")).text
    assert "globex-soon" in html
    assert "soon-1" not in html and "cert-1" not in html


def test_dashboard_query_count(alice_client, expiring, django_assert_max_num_queries):
    # session, user, membership (tenant_view), widgets with counts, expiring keys (+widget),
    # switcher memberships, session save (savepoint, update, release)
    with django_assert_max_num_queries(9):
        alice_client.get(url("dashboard"))


# --- monitor mode through the API: every failure code ------------------------------------------

UNSIGNED = [
    {"label": "page_url", "data": "/pricing", "type": "string"},
    {"label": "coupon", "data": "FREE", "type": "string"},
]


def _token_for(code, *, widget, ec_key, ec_key_2, claims, fields_payload, api, path):
    now = int(time.time())
    site_1 = {"kid": "site-1"}
    if code == "bad_signature":
        return ec_key_2.sign(fields_payload, headers=site_1)
    if code == "unknown_key":
        return ec_key.sign(fields_payload, headers={"kid": "not-registered"})
    if code == "revoked_key":
        old, _ = signing_key_register(widget=widget, public_key=ec_key_2.public_pem, kid="old-1")
        signing_key_revoke(key=old)
        return ec_key_2.sign(fields_payload, headers={"kid": "old-1"})
    if code == "expired":
        return ec_key.sign(claims(iat=now - 900, exp=now - 300), headers=site_1)
    if code == "not_yet_valid":
        return ec_key.sign(claims(nbf=now + 3600, exp=now + 4000), headers=site_1)
    if code == "issued_in_future":
        return ec_key.sign(claims(iat=now + 3600, exp=now + 4000), headers=site_1)
    if code == "replayed":
        token = ec_key.sign(claims(), headers=site_1)
        status, body = api.post(path, {"signed_interaction_data": token})
        assert status == 200 and body["verified"] is True  # the first use consumes the jti
        return token
    if code == "malformed_token":
        return "not a compact JWS"
    if code == "unsupported_algorithm":
        return pyjwt.encode(claims(), "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256", headers=site_1)
    if code == "missing_claim":
        widget_update(widget=widget, changes={"required_claims": {"email": "string"}})
        return ec_key.sign(fields_payload, headers=site_1)  # the fields carry no 'email' label
    if code == "invalid_payload":
        return ec_key.sign([{"label": "name", "data": "Jane"}, "not an object"], headers=site_1)
    if code == "token_too_large":
        return ec_key.sign([{"label": "notes", "data": "x" * 20_000, "type": "string"}], headers=site_1)
    raise AssertionError(code)


@pytest.mark.parametrize(
    "code",
    [
        "bad_signature",
        "unknown_key",
        "revoked_key",
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "replayed",
        "malformed_token",
        "unsupported_algorithm",
        "missing_claim",
        "invalid_payload",
        "token_too_large",
    ],
)
def test_monitor_mode_reports_each_failure(
    api_a, widget_a, registered_ec, ec_key, ec_key_2, claims, fields_payload, code
):
    widget_update(widget=widget_a, changes={"enforcement": "monitor"})
    unsigned_fields_set(widget=widget_a, labels=["page_url"])
    path = f"/api/v1/widgets/{widget_a.public_id}/verify"
    token = _token_for(
        code,
        widget=widget_a,
        ec_key=ec_key,
        ec_key_2=ec_key_2,
        claims=claims,
        fields_payload=fields_payload,
        api=api_a,
        path=path,
    )
    status, body = api_a.post(path, {"signed_interaction_data": token, "unsigned_data": UNSIGNED})
    assert status == 200, body
    assert body["verified"] is False and body["kid"] is None and body["claims"] is None
    assert body["would_reject"]["code"] == code, body["would_reject"]
    assert body["would_reject"]["message"]
    # As if off: every unsigned field passes. What enforce would have dropped is listed.
    assert body["fields"] == [{**f, "signed": False} for f in UNSIGNED]
    assert body["rejected_unsigned"] == ["coupon"]
    # The verification log keeps the would-reject code for the preview.
    outcomes.flush()
    row = VerificationLog.objects.filter(widget=widget_a).order_by("-id").first()
    assert (row.code, row.would_reject, row.rejected_labels) == ("unsigned", code, ["coupon"])


def test_monitor_mode_failures_feed_the_preview(alice_client, api_a, widget_a, registered_ec, ec_key_2, fields_payload):
    widget_update(widget=widget_a, changes={"enforcement": "monitor"})
    unsigned_fields_set(widget=widget_a, labels=["page_url"])
    path = f"/api/v1/widgets/{widget_a.public_id}/verify"
    bad = ec_key_2.sign(fields_payload, headers={"kid": "site-1"})
    for _ in range(2):
        assert api_a.post(path, {"signed_interaction_data": bad, "unsigned_data": UNSIGNED})[0] == 200
    assert api_a.post(path, {"signed_interaction_data": "x.y", "unsigned_data": UNSIGNED})[0] == 200
    assert api_a.post(path, {"unsigned_data": UNSIGNED[:1]})[0] == 200
    html = alice_client.get(url("detail", widget_a)).text
    assert "<strong>3 of 4 chats (75 %)</strong> would have been refused:" in html
    assert "<code>bad_signature</code> × 2" in html and "<code>malformed_token</code> × 1" in html
    assert "3 chats sent unsigned fields that Enforce would drop" in html


# --- the page in Chromium at 1280 px ---------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_widget_page_preview_in_chromium(browser, live_server, monitored_week, alice):
    from playwright.sync_api import expect

    errors = []
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=live_server.url, locale="en-US", timezone_id="UTC"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-Passw0rd!")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()

    page.goto(url("detail", monitored_week) + "#settings")
    preview = page.locator("#enforce-preview")
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("3 of 12 chats (25 %) would have been refused")
    expect(preview.locator(".preview-reasons li")).to_have_count(2)
    expect(preview.get_by_role("link", name="See every outcome in the verification insights")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = preview.bounding_box()
    assert box["width"] > 600  # spans the settings card, not squeezed
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.getElementById('settings').scrollIntoView()")
    page.screenshot(path=str(SCREENSHOTS / "widget-monitor-preview.png"))

    card = page.locator("article.key", has_text="site-1")
    expect(card).to_contain_text("6 tokens (75 % of this widget's)")

    assert errors == []  # the widget page loads clean (CSP, scripts)

    # Revoking the key in use: the numbers, and no revoke without the checkbox (a 400 page).
    card.get_by_role("link", name="Revoke…").click()
    expect(page.locator("#key-in-use")).to_contain_text("This key verified 6 tokens in the last 24 hours")
    page.get_by_role("button", name="Revoke anyway").click()
    expect(page.get_by_text("Tick the box to confirm")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "key-revoke-in-use.png"))
    page.get_by_label("I understand that this key is still in use").check()
    page.get_by_role("button", name="Revoke anyway").click()
    expect(page.get_by_text("Key 'site-1' revoked")).to_be_visible()
    context.close()
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
