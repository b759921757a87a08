"""Widget pages: dashboard, widget page, settings, signing keys, allowlist.

People (tests/conftest.py): alice owns tenant A (acme), bob is a viewer of A,
dave a developer of A, charlie an admin of tenant B (globex).
"""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from keys.models import KeyStatus, SigningKey
from keys.services import signing_key_register
from portal.models import AuditEvent
from widgets.models import UnsignedField, Widget
from widgets.services import unsigned_field_add, widget_update

pytestmark = pytest.mark.django_db


def url(name, widget=None, tenant="acme", **kw):
    if widget is not None:
        kw["widget_id"] = widget if isinstance(widget, str) else widget.public_id
    return reverse(f"widgets:{name}", kwargs={"tenant_slug": tenant, **kw})


def settings_data(widget, **overrides):
    data = {
        "name": widget.name,
        "enforcement": widget.enforcement,
        "leeway_seconds": widget.leeway_seconds,
        "max_token_age_seconds": widget.max_token_age_seconds or "",
        "max_lifetime_seconds": widget.max_lifetime_seconds or "",
        "required_claims": "",
        "expected_audience": widget.expected_audience,
        "expected_issuer": widget.expected_issuer,
        "session_subject_claim": widget.session_subject_claim,
    }
    for flag in ("require_exp", "require_token", "encryption_required", "allow_developer_test_keys"):
        if getattr(widget, flag):
            data[flag] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def fresh_ec_pem(curve=None):
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return key, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


# --- login required ----------------------------------------------------------


@pytest.mark.parametrize(
    "name,needs_widget,extra",
    [
        ("dashboard", False, {}),
        ("create", False, {}),
        ("detail", True, {}),
        ("settings", True, {}),
        ("key_add", True, {}),
        ("key_revoke", True, {"kid": "site-1"}),
        ("allowlist_add", True, {}),
        ("allowlist_remove", True, {}),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_login_required(client, widget_a, name, needs_widget, extra, method):
    target = url(name, widget_a if needs_widget else None, **extra)
    response = getattr(client, method)(target)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


# --- wrong tenant: 404, never a hint -----------------------------------------


@pytest.mark.parametrize(
    "name,extra",
    [
        ("detail", {}),
        ("settings", {}),
        ("key_add", {}),
        ("key_revoke", {"kid": "site-1"}),
        ("allowlist_add", {}),
        ("allowlist_remove", {}),
    ],
)
def test_other_tenants_widget_is_404(charlie_client, widget_a, registered_ec, name, extra):
    # Through charlie's own tenant slug: the selector does not find A's widget.
    assert charlie_client.get(url(name, widget_a, tenant="globex", **extra)).status_code == 404
    assert charlie_client.post(url(name, widget_a, tenant="globex", **extra), {"label": "x"}).status_code == 404
    # Through A's slug: charlie is no member of A.
    assert charlie_client.get(url(name, widget_a, tenant="acme", **extra)).status_code == 404
    assert charlie_client.post(url(name, widget_a, tenant="acme", **extra), {"label": "x"}).status_code == 404
    assert SigningKey.objects.get(pk=registered_ec.pk).status == KeyStatus.ACTIVE


def test_other_tenant_dashboard_is_404_and_unknown_widget_is_404(charlie_client, alice_client, widget_a):
    assert charlie_client.get(url("dashboard")).status_code == 404
    assert alice_client.get(url("detail", "wgt_doesnotexist")).status_code == 404
    assert alice_client.get(url("dashboard", tenant="nope")).status_code == 404


def test_404_page_does_not_distinguish_existing_from_missing(charlie_client, widget_a):
    existing = charlie_client.get(url("detail", widget_a, tenant="globex"))
    missing = charlie_client.get(url("detail", "wgt_missing000000", tenant="globex"))
    assert existing.status_code == missing.status_code == 404
    assert widget_a.name.encode() not in existing.content


# --- dashboard ------------------------------------------------------------------


def test_dashboard_lists_only_own_widgets(alice_client, widget_a, widget_b):
    response = alice_client.get(url("dashboard"))
    assert response.status_code == 200
    assert widget_a.name in response.text and widget_a.public_id in response.text
    assert widget_b.name not in response.text
    assert "Create a widget" in response.text


def test_dashboard_hides_create_form_for_viewer(bob_client, widget_a):
    response = bob_client.get(url("dashboard"))
    assert response.status_code == 200
    assert widget_a.name in response.text
    assert "Create a widget" not in response.text
    assert url("create") not in response.text


def test_dashboard_empty_state(alice_client):
    response = alice_client.get(url("dashboard"))
    assert "No widgets yet" in response.text


def test_dashboard_query_count(alice_client, widget_a, django_assert_max_num_queries):
    # session, user, membership (tenant_view), session write, widgets with counts, switcher memberships
    # + 1 for the expiring keys and certificates block
    with django_assert_max_num_queries(9):
        alice_client.get(url("dashboard"))


def test_create_widget(alice_client, tenant_a):
    response = alice_client.post(url("create"), {"name": "Website chat", "enforcement": "monitor"})
    widget = Widget.objects.get(tenant=tenant_a, name="Website chat")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/widgets/{widget.public_id}/#keys")
    assert widget.enforcement == "monitor"
    page = alice_client.get(response["Location"])
    assert "Register the public key your back end signs with" in page.text
    assert "openssl ecparam -genkey -name prime256v1 -noout -out ec_private.pem" in page.text
    assert "openssl ec -in ec_private.pem -pubout -out ec_public.pem" in page.text


@pytest.mark.parametrize(
    "data",
    [{"name": ""}, {"name": "x" * 200}, {"name": "ok", "enforcement": "strict"}, {"name": "bad\x01name"}],
)
def test_create_widget_refuses_bad_input(alice_client, tenant_a, data):
    data = {"enforcement": "off", **data}
    response = alice_client.post(url("create"), data)
    assert response.status_code == 400
    assert 'class="errorlist' in response.text
    assert not Widget.objects.filter(tenant=tenant_a).exists()


def test_create_widget_needs_admin(bob_client, dave_client, tenant_a):
    assert bob_client.post(url("create"), {"name": "x", "enforcement": "off"}).status_code == 403
    assert dave_client.post(url("create"), {"name": "x", "enforcement": "off"}).status_code == 403
    assert not Widget.objects.filter(tenant=tenant_a).exists()


def test_create_get_redirects_to_dashboard(alice_client):
    response = alice_client.get(url("create"))
    assert response.status_code == 302 and response["Location"] == url("dashboard")


# --- widget page ------------------------------------------------------------------


def test_widget_page_sections_and_embed(alice_client, widget_a):
    response = alice_client.get(url("detail", widget_a))
    text = response.text
    assert response.status_code == 200
    for anchor in ('id="overview"', 'id="settings"', 'id="keys"', 'id="unsigned"'):
        assert anchor in text
    assert "signed-interaction-data=" in text
    assert "startChat({ signedInteractionData: signedToken })" in text
    assert f"/m/{widget_a.public_id}#signed-interaction-data=SIGNED_TOKEN" in text
    assert "?signed-interaction-data" not in text
    assert "Save settings" in text and "Register key" in text and "Add label" in text


def test_widget_page_for_viewer_hides_controls(bob_client, widget_a, registered_ec):
    unsigned_field_add(widget=widget_a, label="page_url")
    response = bob_client.get(url("detail", widget_a))
    text = response.text
    assert response.status_code == 200
    assert registered_ec.fingerprint_sha256 in text
    assert "page_url" in text
    assert "Save settings" not in text
    assert "Register key" not in text
    assert "Add label" not in text
    assert url("key_revoke", widget_a, kid=registered_ec.kid) not in text
    assert url("allowlist_remove", widget_a) not in text
    assert "Only admins and owners change settings" in text


def test_widget_page_no_inline_script_or_style(alice_client, widget_a, registered_ec):
    text = alice_client.get(url("detail", widget_a)).text
    assert "<script>" not in text and "<script >" not in text
    assert "style=" not in text
    assert "<style" not in text
    assert "onclick" not in text.lower()


def test_widget_page_ids_are_unique(alice_client, widget_a, registered_ec):
    import re

    text = alice_client.get(url("detail", widget_a)).text
    ids = re.findall(r'\sid="([^"]+)"', text)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for target in re.findall(r'\sfor="([^"]+)"', text):
        assert target in ids


def test_widget_page_query_count(alice_client, widget_a, registered_ec, django_assert_max_num_queries):
    # session, user, membership, widget, keys (+created_by), unsigned fields, switcher, session save = 10,
    # plus the 7 of the enforce preview and key shares (see test_insights_ui.py).
    with django_assert_max_num_queries(17):
        alice_client.get(url("detail", widget_a))


# --- settings -----------------------------------------------------------------------


def test_settings_change(alice_client, widget_a):
    data = settings_data(
        widget_a,
        enforcement="enforce",
        leeway_seconds="30",
        max_token_age_seconds="900",
        require_exp="on",
        required_claims="email: string\ncustomerId: number",
        expected_audience="chat.example.com",
        expected_issuer="https://shop.example.com",
        session_subject_claim="customerId",
        allow_developer_test_keys="on",
    )
    response = alice_client.post(url("settings", widget_a), data)
    assert response.status_code == 302
    assert response["Location"].endswith("#settings")
    widget_a.refresh_from_db()
    assert widget_a.enforcement == "enforce" and widget_a.signed_required is True
    assert widget_a.leeway_seconds == 30
    assert widget_a.max_token_age_seconds == 900
    assert widget_a.require_exp is True
    assert widget_a.required_claims == {"email": "string", "customerId": "number"}
    assert widget_a.expected_audience == "chat.example.com"
    assert widget_a.session_subject_claim == "customerId"
    assert widget_a.allow_developer_test_keys is True
    assert AuditEvent.objects.filter(action="widget.enforcement_changed", target=widget_a.public_id).exists()
    page = alice_client.get(url("detail", widget_a)).text
    assert "Settings saved" in page
    assert "email: string" in page


def test_settings_blank_limits_mean_none(alice_client, widget_a):
    data = settings_data(widget_a, max_token_age_seconds="", max_lifetime_seconds="")
    assert alice_client.post(url("settings", widget_a), data).status_code == 302
    widget_a.refresh_from_db()
    assert widget_a.max_lifetime_seconds is None and widget_a.max_token_age_seconds is None


def test_settings_required_claims_as_json(alice_client, widget_a):
    data = settings_data(widget_a, required_claims='{"email": "string", "vip": "boolean"}')
    assert alice_client.post(url("settings", widget_a), data).status_code == 302
    widget_a.refresh_from_db()
    assert widget_a.required_claims == {"email": "string", "vip": "boolean"}


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("leeway_seconds", "9999", "Clock leeway (seconds) must be a whole number from 0 to 600"),
        ("leeway_seconds", "-1", "Clock leeway (seconds) must be a whole number"),
        ("leeway_seconds", "abc", "whole number"),
        ("leeway_seconds", "", "required"),
        ("max_token_age_seconds", "0", "Maximum token age (seconds) must be a whole number"),
        ("max_lifetime_seconds", "99999999999999999999999", "Maximum lifetime (seconds) must be"),
        ("enforcement", "strict", "valid choice"),
        ("required_claims", "email: text", "must be one of"),
        ("required_claims", "email string extra", "Line 1"),
        ("required_claims", "{not json", "not valid JSON"),
        ("required_claims", "[1, 2]", "name: type"),
        ("required_claims", '["email"]', "name: type"),
        ("session_subject_claim", "has space", "Session subject claim must be 1 to 64 visible characters"),
        ("name", "", "required"),
        ("name", "x" * 150, "at most 120"),
        ("expected_audience", "a\x00b", "Null characters"),
        ("expected_issuer", "x" * 300, "at most 200"),
    ],
)
def test_settings_bad_values_change_nothing(alice_client, widget_a, field, value, message):
    before = Widget.objects.filter(pk=widget_a.pk).values().get()
    # A valid change rides along: it must not be saved either.
    data = settings_data(widget_a, **{"expected_issuer": "https://shop.example.com", field: value})
    response = alice_client.post(url("settings", widget_a), data)
    assert response.status_code == 400
    assert message in response.text
    assert "Nothing was saved" in response.text
    assert Widget.objects.filter(pk=widget_a.pk).values().get() == before


def test_settings_error_is_next_to_its_field(alice_client, widget_a):
    response = alice_client.post(url("settings", widget_a), settings_data(widget_a, leeway_seconds="9999"))
    form = response.context["settings_form"]
    assert list(form.errors) == ["leeway_seconds"]
    assert 'id="id_leeway_seconds_error"' in response.text
    assert 'aria-invalid="true"' in response.text


@pytest.mark.parametrize("client_name", ["bob_client", "dave_client"])
def test_settings_need_admin(request, widget_a, client_name):
    client = request.getfixturevalue(client_name)
    response = client.post(url("settings", widget_a), settings_data(widget_a, enforcement="enforce"))
    assert response.status_code == 403
    widget_a.refresh_from_db()
    assert widget_a.enforcement == "off"


def test_settings_get_goes_to_section(alice_client, widget_a):
    response = alice_client.get(url("settings", widget_a))
    assert response.status_code == 302 and response["Location"].endswith("#settings")


def test_settings_without_csrf_refused(alice, widget_a):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(url("settings", widget_a), settings_data(widget_a, enforcement="enforce"))
    assert response.status_code == 403
    widget_a.refresh_from_db()
    assert widget_a.enforcement == "off"


# --- signing keys -------------------------------------------------------------------


def test_paste_key_see_fingerprint_then_revoke(alice_client, widget_a, ec_key):
    response = alice_client.post(
        url("key_add", widget_a), {"public_key": ec_key.public_pem, "kid": "web-1", "name": "Web 2025"}
    )
    key = SigningKey.objects.get(widget=widget_a, kid="web-1")
    assert response.status_code == 302
    assert response["Location"].endswith(f"#key-{key.pk}")
    assert key.is_test is False and key.name == "Web 2025"

    page = alice_client.get(url("detail", widget_a)).text
    assert key.fingerprint_sha256 in page
    assert key.jwk_thumbprint in page
    assert "ES256" in page and "P-256" in page
    assert "Status: Active" in page
    assert "openssl pkey -pubin -in public.pem -outform DER | sha256sum" in page
    assert f'data-copy="{key.fingerprint_sha256}"' in page
    revoke_url = url("key_revoke", widget_a, kid="web-1")
    assert revoke_url in page

    confirm = alice_client.get(revoke_url)
    assert confirm.status_code == 200
    assert "last active key" in confirm.text
    assert SigningKey.objects.get(pk=key.pk).status == KeyStatus.ACTIVE  # GET changes nothing

    done = alice_client.post(revoke_url, {"reason": "rotated"})
    assert done.status_code == 302
    key.refresh_from_db()
    assert key.status == KeyStatus.REVOKED and key.revoked_at is not None
    assert AuditEvent.objects.filter(action="key.revoked", details__reason="rotated").exists()
    page = alice_client.get(url("detail", widget_a)).text
    assert "Status: Revoked" in page
    assert revoke_url not in page


def test_key_without_kid_uses_thumbprint(alice_client, widget_a, ec_key):
    alice_client.post(url("key_add", widget_a), {"public_key": ec_key.public_pem})
    key = SigningKey.objects.get(widget=widget_a)
    assert key.kid == key.jwk_thumbprint


def test_key_with_expiry_date(alice_client, widget_a, ec_key):
    day = (timezone.now() + timedelta(days=30)).date()
    alice_client.post(url("key_add", widget_a), {"public_key": ec_key.public_pem, "expires_on": day.isoformat()})
    key = SigningKey.objects.get(widget=widget_a)
    assert key.expires_at.date() == day and key.expires_at.hour == 0


def test_key_with_past_expiry_refused_next_to_field(alice_client, widget_a, ec_key):
    response = alice_client.post(
        url("key_add", widget_a), {"public_key": ec_key.public_pem, "expires_on": "2001-01-01"}
    )
    assert response.status_code == 400
    assert list(response.context["key_form"].errors) == ["expires_on"]
    assert "in the past" in response.text
    assert not SigningKey.objects.exists()
    # The public key is harmless: it is kept in the form so the admin can fix the date.
    assert "BEGIN PUBLIC KEY" in response.text


@pytest.mark.parametrize(
    "pasted",
    [
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "x" * 30000,
        "\x00\x01\x02",
        "[1, 2]",
        '{"kty": "oct", "k": "c2VjcmV0"}',
    ],
)
def test_key_refusals_shown_next_to_field(alice_client, widget_a, pasted):
    response = alice_client.post(url("key_add", widget_a), {"public_key": pasted, "kid": "k1"})
    assert response.status_code == 400
    errors = response.context["key_form"].errors
    assert list(errors) == ["public_key"]
    assert escape(errors["public_key"][0]) in response.text
    assert 'id="key_public_key_error"' in response.text
    assert not SigningKey.objects.exists()


def test_weak_and_unsupported_keys_refused(alice_client, widget_a):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    weak_pem = weak.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    response = alice_client.post(url("key_add", widget_a), {"public_key": weak_pem})
    assert response.status_code == 400 and "2048" in response.text
    _, k1_pem = fresh_ec_pem(ec.SECP256K1())
    response = alice_client.post(url("key_add", widget_a), {"public_key": k1_pem})
    assert response.status_code == 400
    assert "public_key" in response.context["key_form"].errors
    assert not SigningKey.objects.exists()


def test_private_key_is_never_echoed(alice_client, widget_a, ec_key):
    secret_line = ec_key.private_pem.strip().splitlines()[1]
    response = alice_client.post(
        url("key_add", widget_a), {"public_key": ec_key.private_pem, "kid": "oops", "name": "mine"}
    )
    assert response.status_code == 400
    assert "private key" in response.text.lower()
    assert secret_line not in response.text
    assert "PRIVATE KEY-----" not in response.text
    assert response.context["key_form"]["public_key"].value() == ""
    assert "public_key" in response.context["key_form"].errors
    assert not SigningKey.objects.exists()


def test_private_key_cleared_even_when_another_field_fails(alice_client, widget_a, ec_key):
    secret_line = ec_key.private_pem.strip().splitlines()[1]
    response = alice_client.post(url("key_add", widget_a), {"public_key": ec_key.private_pem, "expires_on": "never"})
    assert response.status_code == 400
    assert secret_line not in response.text
    assert "cleared" in response.text


def test_private_jwk_is_never_echoed(alice_client, widget_a):
    jwk = (
        '{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",'
        '"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}'
    )
    response = alice_client.post(url("key_add", widget_a), {"public_key": jwk})
    assert response.status_code == 400
    assert "jpsQnnGQmL" not in response.text
    assert not SigningKey.objects.exists()


def test_duplicate_key_and_kid_refused(alice_client, widget_a, registered_ec, ec_key, ec_key_2):
    response = alice_client.post(url("key_add", widget_a), {"public_key": ec_key.public_pem, "kid": "other"})
    assert response.status_code == 400 and "already registered" in response.text
    response = alice_client.post(url("key_add", widget_a), {"public_key": ec_key_2.public_pem, "kid": "site-1"})
    assert response.status_code == 400
    assert list(response.context["key_form"].errors) == ["kid"]
    assert SigningKey.objects.filter(widget=widget_a).count() == 1


def test_bad_kid_refused(alice_client, widget_a, ec_key):
    response = alice_client.post(url("key_add", widget_a), {"public_key": ec_key.public_pem, "kid": "has space"})
    assert response.status_code == 400
    assert list(response.context["key_form"].errors) == ["kid"]


def test_two_active_keys_for_rotation(alice_client, widget_a, registered_ec, ec_key_2):
    alice_client.post(url("key_add", widget_a), {"public_key": ec_key_2.public_pem, "kid": "site-2"})
    assert SigningKey.objects.filter(widget=widget_a, status=KeyStatus.ACTIVE).count() == 2
    confirm = alice_client.get(url("key_revoke", widget_a, kid="site-1"))
    assert "last active key" not in confirm.text
    assert "Safe to revoke" in confirm.text
    assert "site-2" in confirm.text


def test_revoke_warns_about_recent_use(alice_client, widget_a, registered_ec):
    SigningKey.objects.filter(pk=registered_ec.pk).update(last_used_at=timezone.now() - timedelta(hours=2))
    confirm = alice_client.get(url("key_revoke", widget_a, kid="site-1"))
    assert "used in the last 24 hours" in confirm.text
    assert "Revoke anyway" in confirm.text


def test_revoke_already_revoked_is_harmless(alice_client, widget_a, registered_ec):
    alice_client.post(url("key_revoke", widget_a, kid="site-1"))
    assert alice_client.post(url("key_revoke", widget_a, kid="site-1")).status_code == 302
    confirm = alice_client.get(url("key_revoke", widget_a, kid="site-1"))
    assert confirm.status_code == 200 and "already revoked" in confirm.text
    assert AuditEvent.objects.filter(action="key.revoked").count() == 1


def test_revoke_unknown_kid_is_404(alice_client, widget_a):
    assert alice_client.get(url("key_revoke", widget_a, kid="nope")).status_code == 404
    assert alice_client.post(url("key_revoke", widget_a, kid="nope")).status_code == 404


def test_revoke_reason_too_long_refused(alice_client, widget_a, registered_ec):
    response = alice_client.post(url("key_revoke", widget_a, kid="site-1"), {"reason": "x" * 500})
    assert response.status_code == 400
    registered_ec.refresh_from_db()
    assert registered_ec.status == KeyStatus.ACTIVE


def test_viewer_cannot_add_or_revoke_keys(bob_client, widget_a, registered_ec, ec_key_2):
    assert bob_client.post(url("key_add", widget_a), {"public_key": ec_key_2.public_pem}).status_code == 403
    assert bob_client.get(url("key_revoke", widget_a, kid="site-1")).status_code == 403
    assert bob_client.post(url("key_revoke", widget_a, kid="site-1")).status_code == 403
    assert SigningKey.objects.filter(widget=widget_a).count() == 1
    registered_ec.refresh_from_db()
    assert registered_ec.status == KeyStatus.ACTIVE


def test_developer_needs_widget_permission_for_test_keys(dave_client, widget_a, ec_key_2):
    response = dave_client.post(url("key_add", widget_a), {"public_key": ec_key_2.public_pem})
    assert response.status_code == 403
    page = dave_client.get(url("detail", widget_a)).text
    assert "Register key" not in page
    assert "Let developers register test keys" in page


def test_developer_registers_only_test_keys(dave_client, widget_a, registered_ec, ec_key_2):
    widget_update(widget=widget_a, changes={"allow_developer_test_keys": True})
    page = dave_client.get(url("detail", widget_a)).text
    assert "Register key" in page
    assert 'name="is_test"' not in page
    # Even if the developer sends is_test=off, the key is a test key.
    response = dave_client.post(url("key_add", widget_a), {"public_key": ec_key_2.public_pem, "kid": "dev-1"})
    assert response.status_code == 302
    key = SigningKey.objects.get(widget=widget_a, kid="dev-1")
    assert key.is_test is True
    page = dave_client.get(url("detail", widget_a)).text
    assert "Test key" in page
    # A developer may revoke a test key, never a production one.
    assert url("key_revoke", widget_a, kid="dev-1") in page
    assert url("key_revoke", widget_a, kid="site-1") not in page
    assert dave_client.post(url("key_revoke", widget_a, kid="site-1")).status_code == 403
    assert dave_client.post(url("key_revoke", widget_a, kid="dev-1")).status_code == 302
    key.refresh_from_db()
    registered_ec.refresh_from_db()
    assert key.status == KeyStatus.REVOKED and registered_ec.status == KeyStatus.ACTIVE


def test_admin_may_mark_test_key(alice_client, widget_a, ec_key):
    alice_client.post(url("key_add", widget_a), {"public_key": ec_key.public_pem, "is_test": "on"})
    assert SigningKey.objects.get(widget=widget_a).is_test is True


def test_key_statuses_shown_as_text(alice_client, widget_a, registered_ec, ec_key_2):
    key2, _ = signing_key_register(widget=widget_a, public_key=ec_key_2.public_pem, kid="old")
    SigningKey.objects.filter(pk=key2.pk).update(expires_at=timezone.now() - timedelta(days=1))
    page = alice_client.get(url("detail", widget_a)).text
    assert "Status: Active" in page and "Status: Expired" in page


def test_certificate_warnings_become_messages(alice_client, widget_a, ec_key, monkeypatch):
    import widgets.views as views

    real = views.signing_key_register

    def with_warning(**kwargs):
        key, _ = real(**kwargs)
        return key, ("The certificate expires in 5 days; the key stops verifying then.",)

    monkeypatch.setattr(views, "signing_key_register", with_warning)
    response = alice_client.post(url("key_add", widget_a), {"public_key": ec_key.public_pem}, follow=True)
    assert "The certificate expires in 5 days" in response.text
    assert "msg-warning" in response.text


def test_key_add_get_goes_to_section(alice_client, widget_a):
    response = alice_client.get(url("key_add", widget_a))
    assert response.status_code == 302 and response["Location"].endswith("#keys")


# --- unsigned-field allowlist ---------------------------------------------------------


def test_allowlist_add_and_remove(alice_client, widget_a):
    response = alice_client.post(url("allowlist_add", widget_a), {"label": "page_url", "note": "where it opened"})
    assert response.status_code == 302 and response["Location"].endswith("#unsigned")
    assert UnsignedField.objects.filter(widget=widget_a, label="page_url", note="where it opened").exists()
    page = alice_client.get(url("detail", widget_a)).text
    assert "page_url" in page and "where it opened" in page

    response = alice_client.post(url("allowlist_remove", widget_a), {"label": "page_url"})
    assert response.status_code == 302
    assert not UnsignedField.objects.filter(widget=widget_a).exists()
    assert AuditEvent.objects.filter(action="allowlist.removed").exists()


def test_allowlist_duplicate_label_refused_cleanly(alice_client, widget_a):
    unsigned_field_add(widget=widget_a, label="page_url")
    response = alice_client.post(url("allowlist_add", widget_a), {"label": "page_url"})
    assert response.status_code == 400
    assert "already on the allowlist" in response.text
    assert list(response.context["allowlist_form"].errors) == ["label"]
    assert UnsignedField.objects.filter(widget=widget_a).count() == 1


@pytest.mark.parametrize("label", ["", " ", "-leading", "x" * 150, "bad\tlabel", "<script>"])
def test_allowlist_bad_label_refused(alice_client, widget_a, label):
    response = alice_client.post(url("allowlist_add", widget_a), {"label": label})
    assert response.status_code == 400
    assert "label" in response.context["allowlist_form"].errors
    assert "<script>" not in response.text.replace("&lt;script&gt;", "")
    assert not UnsignedField.objects.filter(widget=widget_a).exists()


def test_allowlist_remove_unknown_label_is_harmless(alice_client, widget_a):
    response = alice_client.post(url("allowlist_remove", widget_a), {"label": "nope"}, follow=True)
    assert response.status_code == 200
    assert "was not on the allowlist" in response.text


@pytest.mark.parametrize("client_name", ["bob_client", "dave_client"])
def test_allowlist_needs_admin(request, widget_a, client_name):
    client = request.getfixturevalue(client_name)
    unsigned_field_add(widget=widget_a, label="page_url")
    assert client.post(url("allowlist_add", widget_a), {"label": "other"}).status_code == 403
    assert client.post(url("allowlist_remove", widget_a), {"label": "page_url"}).status_code == 403
    assert list(widget_a.unsigned_fields.values_list("label", flat=True)) == ["page_url"]


def test_other_admin_cannot_touch_allowlist(charlie_client, widget_a):
    unsigned_field_add(widget=widget_a, label="page_url")
    assert (
        charlie_client.post(url("allowlist_remove", widget_a, tenant="globex"), {"label": "page_url"}).status_code
        == 404
    )
    assert widget_a.unsigned_fields.count() == 1


# --- tenant switcher ------------------------------------------------------------------


def test_tenant_switcher_lists_every_membership(alice, alice_client, tenant_b, widget_a):
    from portal.models import Role
    from portal.services import membership_set

    membership_set(tenant=tenant_b, user=alice, role=Role.VIEWER)
    page = alice_client.get(url("dashboard")).text
    assert "Switch tenant" in page
    assert url("dashboard", tenant="globex") in page
    other = alice_client.get(url("dashboard", tenant="globex"))
    assert other.status_code == 200
    assert "Create a widget" not in other.text  # viewer there
    assert widget_a.name not in other.text


# --- no input makes a 500 ----------------------------------------------------------------

GARBAGE = [
    {},
    {"name": ["a", "b"], "enforcement": ["off", "enforce"]},
    {"leeway_seconds": "1e400", "max_token_age_seconds": "-0", "max_lifetime_seconds": "NaN"},
    {"required_claims": '{"a": {"b": 1}}', "expires_on": "99999-01-01", "kid": "\u202e\u0000"},
    {"public_key": '{"kty": "EC"}', "label": "\ud7ff" * 5, "note": "x" * 5000},
    {"public_key": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "expires_on": "0001-01-01"},
    {"public_key": '{"keys": []}', "reason": ["a", "b"], "session_subject_claim": "é" * 80},
]


@pytest.mark.parametrize("data", GARBAGE)
@pytest.mark.parametrize(
    "name,extra",
    [
        ("create", {}),
        ("settings", {}),
        ("key_add", {}),
        ("key_revoke", {"kid": "site-1"}),
        ("allowlist_add", {}),
        ("allowlist_remove", {}),
    ],
)
def test_no_input_makes_a_500(alice_client, widget_a, registered_ec, name, extra, data):
    target = url(name, None if name == "create" else widget_a, **extra)
    response = alice_client.post(target, data)
    assert response.status_code < 500


def test_unusual_kid_characters_round_trip(alice_client, widget_a, ec_key):
    kid = "web:2025+q3=a@b~c.d_e-f"
    assert alice_client.post(url("key_add", widget_a), {"public_key": ec_key.public_pem, "kid": kid}).status_code == 302
    revoke = url("key_revoke", widget_a, kid=kid)
    assert revoke in alice_client.get(url("detail", widget_a)).text
    assert alice_client.get(revoke).status_code == 200
    assert alice_client.post(revoke).status_code == 302
    assert SigningKey.objects.get(widget=widget_a, kid=kid).status == KeyStatus.REVOKED
