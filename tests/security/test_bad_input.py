"""The bad-input sweep: every form and API endpoint gets empty, huge, wrong-type,
unicode-confusable and script-injection values. Each must answer with a specific
error (the API's envelope, or the form page with its error), change nothing,
never 500, and never send the script back unescaped in a page."""

import json

import pytest
from django.conf import settings

from keys.models import EncryptionKey, SigningKey
from portal.models import ApiKey, AuditEvent, Invitation, Membership
from widgets.models import UnsignedField, Widget

SCRIPT = "<script>alert(1)</script>"
HUGE = "x" * 100_000
CONFUSABLE = "аdmin"  # the first letter is Cyrillic
FULLWIDTH = "ａｄｍｉｎ"
RTL = "admin\u202egpj.exe"
ZERO_WIDTH = "ad\u200bmin"
NUL = "a\x00b"


def snapshot():
    """Everything a refused request must leave alone."""
    return {
        "widgets": list(Widget.objects.order_by("pk").values()),
        "keys": list(SigningKey.objects.order_by("pk").values_list("pk", "kid", "status")),
        "allowlist": list(UnsignedField.objects.order_by("pk").values_list("pk", "label")),
        "api_keys": list(ApiKey.objects.order_by("pk").values_list("pk", "revoked_at")),
        "encryption_keys": list(EncryptionKey.objects.order_by("pk").values_list("pk", "status")),
        "invitations": list(Invitation.objects.order_by("pk").values_list("pk", "expires_at")),
        "members": list(Membership.objects.order_by("pk").values_list("pk", "role")),
        "audit": AuditEvent.objects.exclude(action="login.failed").count(),
    }


# --- JSON API ----------------------------------------------------------------------------

# (method, path template, body, expected status, expected code or None for "any 4xx code")
API_CASES = [
    # widgets
    ("POST", "/api/v1/widgets", None, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", [], 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": ""}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "   "}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": 5}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": ["a"]}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": None}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "a" * 121}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": HUGE}, 413, "request_too_large"),
    ("POST", "/api/v1/widgets", {"name": NUL}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "signed_required": "yes"}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "signed_required": 1}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "enforcement": SCRIPT}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "enforcement": "ENFORCE"}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "leeway_seconds": -1}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "leeway_seconds": 1e308}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "leeway_seconds": "60"}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "leeway_seconds": True}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "required_claims": [SCRIPT]}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", SCRIPT: 1}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets", {"name": "ok", "unsigned_fields": [SCRIPT]}, 400, "invalid_request"),
    ("PATCH", "/api/v1/widgets/{w}", {"name": ""}, 400, "invalid_request"),
    ("PATCH", "/api/v1/widgets/{w}", {"enforcement": None}, 400, "invalid_request"),
    ("PATCH", "/api/v1/widgets/{w}", {"signed_required": True, "enforcement": "off"}, 400, "invalid_request"),
    ("PATCH", "/api/v1/widgets/{w}", {"public_id": "wgt_mine"}, 400, "invalid_request"),
    ("PATCH", "/api/v1/widgets/{w}", {"max_lifetime_seconds": 10**30}, 400, "invalid_request"),
    ("PATCH", "/api/v1/widgets/{w}", {"session_subject_claim": "a b"}, 400, "invalid_request"),
    ("PATCH", "/api/v1/widgets/{w}", "not an object", 400, "invalid_request"),
    ("GET", "/api/v1/widgets/" + SCRIPT, None, 404, "not_found"),
    ("GET", "/api/v1/widgets/" + "w" * 5000, None, 404, "not_found"),
    # allowlist
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": "name"}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": None}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": [1]}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": [""]}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": [SCRIPT]}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": ["a" * 101]}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": [CONFUSABLE]}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": [FULLWIDTH]}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": [RTL]}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": [ZERO_WIDTH]}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": ["ok"] * 201}, 400, "invalid_request"),
    ("PUT", "/api/v1/widgets/{w}/unsigned-fields", {"fields": ["ok"], "extra": 1}, 400, "invalid_request"),
    # signing keys
    ("POST", "/api/v1/widgets/{w}/keys", {}, 400, ("invalid_key", "invalid_request")),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": ""}, 400, "invalid_key"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": 5}, 400, ("invalid_key", "invalid_request")),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": [1, 2]}, 400, ("invalid_key", "invalid_request")),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": SCRIPT}, 400, "invalid_key"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "name": NUL}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "name": "a\x1bb"}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "x" * 60_000}, 400, None),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": {"kty": "EC"}}, 400, "invalid_key"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": {"kty": "oct", "k": "c2VjcmV0"}}, 400, "unsupported_key"),
    (
        "POST",
        "/api/v1/widgets/{w}/keys",
        {"public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
        400,
        "invalid_key",
    ),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "kid": SCRIPT}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "kid": "k" * 201}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "kid": "kіd"}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "kid": 7}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "name": {"a": 1}}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "expires_at": "yesterday"}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "expires_at": 5}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "expires_at": "2001-01-01T00:00:00Z"}, 400, None),
    ("POST", "/api/v1/widgets/{w}/keys", {"public_key": "{pem}", "extra": SCRIPT}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/keys/" + "k" * 300 + "/revoke", None, 404, "not_found"),
    ("POST", "/api/v1/widgets/{w}/keys/%3Cscript%3E/revoke", None, 404, "not_found"),
    # verification
    ("POST", "/api/v1/widgets/{w}/verify", [], 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify", {"signed_interaction_data": 5}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify", {"signed_interaction_data": SCRIPT}, 422, "malformed_token"),
    ("POST", "/api/v1/widgets/{w}/verify", {"signed_interaction_data": "a.b.c"}, 422, "malformed_token"),
    ("POST", "/api/v1/widgets/{w}/verify", {"signed_interaction_data": "a" * 40_000}, 422, "token_too_large"),
    ("POST", "/api/v1/widgets/{w}/verify", {"unsigned_data": "x"}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify", {"unsigned_data": [5]}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify", {"unsigned_data": [{"label": 5, "data": 1}]}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify", {"extra": SCRIPT}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify-batch", {}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify-batch", {"items": []}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify-batch", {"items": "x"}, 400, "invalid_request"),
    ("POST", "/api/v1/widgets/{w}/verify-batch", {"items": [{}] * 101}, 400, "invalid_request"),
    # encryption keys and sessions
    ("POST", "/api/v1/encryption-keys", {"bits": 512}, 400, "invalid_request"),
    ("POST", "/api/v1/encryption-keys", [], 400, "invalid_request"),
    ("POST", "/api/v1/encryption-keys/" + SCRIPT.replace("/", "") + "/retire", None, 404, "not_found"),
    ("POST", "/api/v1/sessions/redeem", {}, 400, None),
    ("POST", "/api/v1/sessions/redeem", {"token": 5}, 400, None),
    ("POST", "/api/v1/sessions/redeem", {"token": SCRIPT}, 422, None),
    ("POST", "/api/v1/sessions/redeem", {"token": "x" * 60_000}, None, None),
]


def _raw_body(body, pem):
    if body is None:
        return ""
    if isinstance(body, str):
        return json.dumps(body)
    text = json.dumps(body)
    return text.replace('"{pem}"', json.dumps(pem))


@pytest.mark.parametrize(
    "method,path,body,status,code", API_CASES, ids=[f"{c[0]} {c[1][:40]} {str(c[2])[:40]}" for c in API_CASES]
)
def test_api_bad_input(api_a, widget_a, ec_key, fast_platform_keys, method, path, body, status, code):
    path = path.replace("{w}", widget_a.public_id)
    before = snapshot()
    got, payload = api_a.call(method, path, raw=_raw_body(body, ec_key.public_pem))
    assert got < 500, payload
    if status is None:
        assert 400 <= got < 500
    else:
        assert got == status, payload
    assert isinstance(payload, dict) and "error" in payload, payload
    error = payload["error"]
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str)
    if code:
        assert error["code"] in ((code,) if isinstance(code, str) else code), payload
    assert snapshot() == before


# A JSON string with a lone surrogate passes json.loads; read_json refuses it (it once crashed the write).
LONE_SURROGATE = pytest.param('{"name": "\\ud800"}', id="lone-surrogate")


@pytest.mark.parametrize("raw", ["{", "\xff", "[" * 10_000, "null", "1e99999", '{"name": 1e99999}', LONE_SURROGATE])
def test_api_errors_are_json_never_html(api_a, raw):
    status, payload = api_a.call("POST", "/api/v1/widgets", raw=raw)
    assert 400 <= status < 500, payload
    assert isinstance(payload, dict) and payload["error"]["code"]
    assert not Widget.objects.exists()


def test_text_echoed_by_the_api_is_never_sniffed_as_html(api_a):
    response = api_a.client.post(
        "/api/v1/widgets",
        data=f'{{"name": "ok", "{SCRIPT}": 1}}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src" in response["Content-Security-Policy"]


def test_api_body_wrong_content_type_and_method(api_a, widget_a):
    response = api_a.client.post(
        "/api/v1/widgets",
        data="name=x",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}",
    )
    assert response.status_code == 400
    status, payload = api_a.call("DELETE", f"/api/v1/widgets/{widget_a.public_id}")
    assert status == 405 and payload["error"]["code"] == "method_not_allowed"
    assert Widget.objects.filter(pk=widget_a.pk).exists()


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", f"Bearer {SCRIPT}", "Bearer sgn_" + "a" * 5000, "Bearer\x00x"],
)
def test_api_bad_credentials_are_401(db, header):
    from django.test import Client

    response = Client().get("/api/v1/widgets", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


# --- browser forms ---------------------------------------------------------------------

# Multi-valued fields are not listed: Django takes the last value, which is then judged on its own.
TEXT_VALUES = ["", " ", "x" * 5000, SCRIPT, CONFUSABLE, FULLWIDTH, RTL, NUL]
SETTINGS_OK = {
    "name": "Acme chat",
    "enforcement": "off",
    "leeway_seconds": "60",
    "session_subject_claim": "sub",
    "max_lifetime_seconds": "86400",
}
KEY_OK = {"public_key": "{pem}", "kid": "", "name": ""}
INVITE_OK = {"email": "new@example.com", "role": "viewer"}

# int("٣") == 3: the settings form must refuse non-ASCII digits.
ARABIC_DIGIT = pytest.param("٣", id="arabic-digit")


def _cases():
    # (url, base data, field, bad values); {w} is tenant A's widget
    table = [
        ("/t/acme/widgets/new", {"name": "ok", "enforcement": "off"}, "name", ["", " ", "x" * 5000, NUL]),
        ("/t/acme/widgets/new", {"name": "ok", "enforcement": "off"}, "enforcement", [*TEXT_VALUES, "ENFORCE"]),
        (
            "/t/acme/widgets/{w}/settings",
            SETTINGS_OK,
            "leeway_seconds",
            ["", "abc", "-1", "601", "9" * 400, SCRIPT, "1e3", ARABIC_DIGIT],
        ),
        ("/t/acme/widgets/{w}/settings", SETTINGS_OK, "enforcement", [SCRIPT, "", "ENFORCE"]),
        ("/t/acme/widgets/{w}/settings", SETTINGS_OK, "required_claims", [SCRIPT, "x" * 6000, "a: nonsense"]),
        ("/t/acme/widgets/{w}/settings", SETTINGS_OK, "session_subject_claim", ["", "a b", "x" * 5000, NUL]),
        ("/t/acme/widgets/{w}/settings", SETTINGS_OK, "name", ["", "x" * 5000, NUL]),
        ("/t/acme/widgets/{w}/keys/add", KEY_OK, "public_key", TEXT_VALUES),
        ("/t/acme/widgets/{w}/keys/add", KEY_OK, "kid", [SCRIPT, "k" * 300, CONFUSABLE, FULLWIDTH, NUL, RTL]),
        ("/t/acme/widgets/{w}/keys/add", KEY_OK, "expires_on", ["yesterday", "2001-01-01", SCRIPT, "9999-99-99"]),
        ("/t/acme/widgets/{w}/allowlist/add", {"label": "", "note": ""}, "label", [*TEXT_VALUES, ZERO_WIDTH]),
        ("/t/acme/widgets/{w}/allowlist/add", {"label": "ok", "note": ""}, "note", ["x" * 5000, NUL]),
        ("/t/acme/api-keys/", {"name": ""}, "name", ["x" * 5000, NUL]),
        (
            "/t/acme/members/invite",
            INVITE_OK,
            "email",
            [
                "",
                "not-an-email",
                "a" * 300 + "@example.com",
                SCRIPT + "@example.com",
                '"<script>"@example.com',
                "аlice@example.com",
                "alice@exаmple.com",
                "ａlice@example.com",
                "alice@example.com\nBcc: x@evil.test",
                NUL,
            ],
        ),
        ("/t/acme/members/invite", INVITE_OK, "role", [*TEXT_VALUES, "superuser", "OWNER"]),
    ]
    for url, base, field, values in table:
        for value in values:
            marks = ()
            if isinstance(value, type(ARABIC_DIGIT)):
                value, marks = value.values[0], value.marks
            yield pytest.param(
                url, base, field, value, marks=marks, id=f"{url.split('/')[-1] or url}:{field}={value[:12]!r}"
            )


def _has_form_error(response) -> bool:
    text = response.content.decode()
    return "errorlist" in text or "msg-error" in text or 'aria-invalid="true"' in text


@pytest.mark.parametrize("url,base,field,value", list(_cases()))
def test_browser_forms_refuse_bad_input(world, alice_client, ec_key, url, base, field, value):
    url = url.replace("{w}", world["a"]["widget_id"])
    data = {k: (ec_key.public_pem if v == "{pem}" else v) for k, v in base.items()}
    data[field] = value
    before = snapshot()
    response = alice_client.post(url, data)
    assert response.status_code < 500
    if response.status_code == 302:
        response = alice_client.get(response["Location"])
        assert _has_form_error(response), "redirected without an error message"
    else:
        assert response.status_code in (200, 400)
        assert _has_form_error(response), "no error on the form"
    assert SCRIPT not in response.content.decode(), "the script came back unescaped"
    assert snapshot() == before, "something changed"


def test_member_role_form_refuses_bad_roles(alice_client, bob):
    membership = Membership.objects.get(user=bob)
    for value in ["", "superuser", SCRIPT, "OWNER", "x" * 5000, NUL]:
        before = snapshot()
        response = alice_client.post(f"/t/acme/members/{membership.pk}/role", {"role": value}, follow=True)
        assert response.status_code == 200
        assert "the role was not changed" in response.content.decode()
        assert SCRIPT not in response.content.decode()
        assert snapshot() == before
    for bad_id in ("0", "-1", "99999999999999999999999", "abc"):
        response = alice_client.post(f"/t/acme/members/{bad_id}/role", {"role": "admin"})
        assert response.status_code == 404


def test_invite_signup_refuses_bad_input(alice, tenant_a, client):
    from portal.services import invitation_create

    _, token = invitation_create(tenant=tenant_a, email="signup@example.com", role="viewer")
    url = f"/accounts/invite/{token}"
    ok = {"username": "newbie", "password1": "a-Long-passphrase-1", "password2": "a-Long-passphrase-1"}
    for field, value in [
        ("username", ""),
        ("username", SCRIPT),
        ("username", "x" * 5000),
        ("username", CONFUSABLE),
        ("username", NUL),
        ("username", "alice"),
        ("username", "ALICE"),
        ("password1", ""),
        ("password1", "short"),
        ("password1", "signup@example.com"),
        ("password2", "different-Passphrase-2"),
        ("password1", "x" * 5000),
    ]:
        before = snapshot()
        response = client.post(url, {**ok, field: value})
        assert response.status_code == 200, (field, value)
        assert response.context["form"].errors, (field, value)
        assert SCRIPT not in response.content.decode()
        assert snapshot() == before


# --- stored script is escaped wherever it is shown ---------------------------------------


def test_stored_script_is_escaped_on_every_page(world, alice_client, tenant_a):
    from portal.services import api_key_create, audit_record
    from widgets.services import widget_create

    widget = widget_create(tenant=tenant_a, name=SCRIPT, actor=SCRIPT)
    api_key_create(tenant=tenant_a, name=SCRIPT)
    audit_record(tenant=tenant_a, actor=SCRIPT, action="key.added", target=SCRIPT, details={SCRIPT: SCRIPT})
    pages = [
        "/t/acme/",
        f"/t/acme/widgets/{widget.public_id}/",
        "/t/acme/api-keys/",
        "/t/acme/audit/",
        "/t/acme/audit/?actor=" + SCRIPT,
        "/t/acme/members/",
    ]
    for url in pages:
        response = alice_client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert SCRIPT not in text, url
    assert "&lt;script&gt;" in alice_client.get("/t/acme/audit/").content.decode()


def test_the_form_limits_are_configured():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS <= 1000
    assert settings.SIGNET["API_MAX_BODY_BYTES"] <= 1024 * 1024
