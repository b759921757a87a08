"""The playground page (widgets/playground.py): every mode, every role, both tenants."""

import base64
import json
import re
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from keys.models import SigningKey
from keys.services import signing_key_revoke
from tests.playground.conftest import url
from widgets.models import ReplayRecord, VerificationLog
from widgets.services import unsigned_fields_set, widget_update


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def text_of(response) -> str:
    """The page's visible text, white space collapsed (good enough to assert on sentences)."""
    html = response.content.decode()
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    import html as html_lib

    return re.sub(r"\s+", " ", html_lib.unescape(html))


def post(client, data, **extra):
    return client.post(url(), data, **extra)


# --- access -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_required(client, tenant_a):
    response = client.get(url())
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(url(), {"mode": "decode", "token": "x.y.z"})
    assert response.status_code == 302


def test_other_tenant_is_404(charlie_client, widget_a):
    assert charlie_client.get(url()).status_code == 404
    response = charlie_client.post(url(), {"mode": "decode", "token": "a.b.c"})
    assert response.status_code == 404


def test_other_tenants_widget_is_404(alice_client, widget_a, widget_b, ec_key, fields_payload):
    assert alice_client.get(url() + f"?widget={widget_b.public_id}").status_code == 404
    token = ec_key.sign(fields_payload)
    response = post(alice_client, {"mode": "verify", "widget": widget_b.public_id, "token": token})
    assert response.status_code == 404
    response = post(alice_client, {"mode": "register_test_key", "widget": widget_b.public_id, "public_key": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["alice_client", "bob_client", "dave_client"])
def test_every_role_may_use_it(request, who, widget_a, registered_ec, ec_key, fields_payload):
    client = request.getfixturevalue(who)
    for tab in ("verify", "sign", "decode", "snippets"):
        response = client.get(url() + f"?tab={tab}")
        assert response.status_code == 200
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    response = post(client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    assert response.status_code == 200
    assert response.context["result"]["verified"] is True


def test_no_store_on_every_answer(alice_client, widget_a, ec_key):
    for response in (
        alice_client.get(url()),
        post(alice_client, {"mode": "decode", "token": "a.b.c"}),
        post(
            alice_client,
            {"mode": "sign", "widget": widget_a.public_id, "payload": "{}", "private_key": ec_key.private_pem},
        ),
    ):
        assert "no-store" in response["Cache-Control"]


def test_unknown_mode_is_400(alice_client, widget_a):
    assert post(alice_client, {"mode": "explode"}).status_code == 400


def test_without_widgets_the_page_explains(alice_client, tenant_a):
    response = alice_client.get(url())
    assert response.status_code == 200
    assert "No widget yet" in text_of(response)
    response = post(alice_client, {"mode": "verify", "token": "a.b.c"})
    assert response.status_code == 400
    # Decode needs no widget.
    response = post(alice_client, {"mode": "decode", "token": "a.b.c"})
    assert response.status_code == 200


def test_get_queries_are_bounded(alice_client, widget_a, registered_ec, django_assert_max_num_queries):
    # session, user, membership(+tenant), widgets, keys, encryption-key check, session save.
    with django_assert_max_num_queries(10):
        assert alice_client.get(url()).status_code == 200


def test_tokens_never_go_into_a_url(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    html = response.content.decode()
    for form in re.findall(r"<form[^>]*>", html):
        if 'method="get"' in form:
            continue
        assert 'method="post"' in form, form
    # Every GET form and link carries only the tab, widget and format.
    assert not re.search(r'href="[^"]*(token|private_key)=', html)
    assert 'name="token"' not in "".join(re.findall(r'<form method="get".*?</form>', html, flags=re.S))


# --- verify ---------------------------------------------------------------------------------


def test_verify_fields_array_agent_view(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    unsigned = json.dumps({"page_url": "https://shop.example/cart", "name": "Mallory"})
    response = post(
        alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token, "unsigned_data": unsigned}
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert result["verified"] is True and result["status"] == 200
    assert result["key"].kid == "site-1"
    page = text_of(response)
    assert "Verified" in page and registered_ec.fingerprint_sha256 in page
    assert "a jti is not consumed" in page
    agent = result["agent"]
    assert [(f["label"], f["signed"]) for f in agent["shown"]] == [
        ("name", True),
        ("customer_id", True),
        ("logged_in", True),
        ("page_url", False),
    ]
    assert agent["dropped"] == [
        {"label": "name", "reason": "an unsigned field can never replace the signed field of the same label"}
    ]


def test_verify_is_the_api_answer(alice_client, api_a, widget_a, registered_ec, ec_key, fields_payload):
    """Same code, same policy: the body the page shows is the API's body."""
    unsigned_fields_set(widget=widget_a, labels=["page_url"])
    widget_update(widget=widget_a, changes={"enforcement": "enforce"})
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    unsigned = [
        {"label": "page_url", "data": "/x", "type": "string"},
        {"label": "coupon", "data": "FREE", "type": "string"},
    ]
    response = post(
        alice_client,
        {"mode": "verify", "widget": widget_a.public_id, "token": token, "unsigned_data": json.dumps(unsigned)},
    )
    status, body = api_a.post(
        f"/api/v1/widgets/{widget_a.public_id}/verify", {"signed_interaction_data": token, "unsigned_data": unsigned}
    )
    assert response.context["result"]["status"] == status == 200
    assert response.context["result"]["body"] == body
    assert response.context["result"]["agent"]["dropped"] == [
        {"label": "coupon", "reason": "not on the widget's unsigned-field allowlist"}
    ]


def test_verify_does_not_consume_the_jti(alice_client, api_a, widget_a, registered_ec, ec_key, claims):
    token = ec_key.sign(claims(), headers={"kid": "site-1"})
    for _ in range(2):
        response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
        assert response.context["result"]["verified"] is True
    assert ReplayRecord.objects.count() == 0
    assert "Not consumed: this was a dry run" in text_of(response)
    # ... so production still accepts it exactly once.
    path = f"/api/v1/widgets/{widget_a.public_id}/verify"
    assert api_a.post(path, {"signed_interaction_data": token})[0] == 200
    status, body = api_a.post(path, {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "replayed"


def test_verify_records_no_outcome(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    from widgets import outcomes

    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    outcomes.flush()
    assert VerificationLog.objects.count() == 0


def test_verify_expired_says_how_long_ago(alice_client, widget_a, registered_ec, ec_key, claims):
    now = int(time.time())
    token = ec_key.sign(claims(iat=now - 1800, exp=now - 600), headers={"kid": "site-1"})
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    assert response.status_code == 200
    result = response.context["result"]
    assert result["status"] == 422 and result["error"]["code"] == "expired"
    page = text_of(response)
    assert "Rejected: expired" in page
    assert "Expired 10 min ago" in page
    assert "Issued 30 min ago" in page
    assert "How to fix:" in page and "clock" in page
    assert "HTTP 422" in page
    # Refused for its claims: the signature itself was good, and the page says with which key.
    assert result["key"].kid == "site-1" and result["key_signature_only"] is True
    assert "The signature is valid with this key" in page


def test_verify_clock_skew_is_explained(alice_client, widget_a, registered_ec, ec_key, claims):
    now = int(time.time())
    token = ec_key.sign(claims(iat=now + 30, exp=now + 600), headers={"kid": "site-1"})
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    assert response.context["result"]["verified"] is True
    assert re.search(r"clock is about (29|30) s ahead of Signet's \(within the 60 s leeway\)", text_of(response))
    token = ec_key.sign(claims(iat=now + 600, exp=now + 900), headers={"kid": "site-1"})
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    assert response.context["result"]["error"]["code"] == "issued_in_future"


def test_verify_milliseconds_are_spotted(alice_client, widget_a, registered_ec, ec_key, claims):
    token = ec_key.sign(claims(exp=int(time.time() * 1000) + 600_000), headers={"kid": "site-1"})
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    assert "looks like milliseconds" in text_of(response)


def test_verify_der_signature_is_diagnosed(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    assert decode_dss_signature(der)
    response = post(
        alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": f"{head}.{body}.{b64url(der)}"}
    )
    result = response.context["result"]
    assert result["error"]["code"] == "bad_signature"
    assert "DER-encoded" in text_of(response) and "R‖S" in text_of(response)


def test_verify_unknown_kid_lists_the_keys(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "nope"})
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    result = response.context["result"]
    assert result["error"]["code"] == "unknown_key"
    page = text_of(response)
    assert "kid 'nope' is not registered on this widget (registered: site-1)" in page
    assert registered_ec.fingerprint_sha256 in page


def test_verify_revoked_key(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    signing_key_revoke(key=registered_ec)
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token})
    assert response.context["result"]["error"]["code"] == "revoked_key"
    assert "is a revoked key on this widget" in text_of(response)


def test_verify_monitor_would_reject(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    widget_update(widget=widget_a, changes={"enforcement": "monitor"})
    token = ec_key.sign(fields_payload, headers={"kid": "other"})
    response = post(
        alice_client,
        {"mode": "verify", "widget": widget_a.public_id, "token": token, "unsigned_data": '{"page_url": "/x"}'},
    )
    result = response.context["result"]
    assert result["status"] == 200 and result["would_reject"] and result["error"]["code"] == "unknown_key"
    assert "Enforce would reject it" in text_of(response)
    assert result["agent"]["shown"][0]["enforce_would_drop"] is True


def test_verify_refused_request_shows_no_agent_fields(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": token[:-4] + "AAAA"})
    assert response.context["result"]["agent"]["refused"] is True
    assert "Nothing reaches the agent" in text_of(response)


def test_verify_unsigned_only_and_api_list_shape(alice_client, widget_a):
    unsigned = json.dumps([{"label": "page_url", "data": "/x", "type": "string"}])
    response = post(
        alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": "", "unsigned_data": unsigned}
    )
    assert response.status_code == 200
    assert response.context["result"]["agent"]["shown"][0]["signed"] is False
    assert "No token: unsigned data only" in text_of(response)


@pytest.mark.parametrize(
    ("unsigned", "message"),
    [("{nope", "not valid JSON"), ('[{"label": 3, "data": 1}]', "Each unsigned field"), ('"x"', "must be a list")],
)
def test_verify_bad_unsigned_data(alice_client, widget_a, unsigned, message):
    response = post(
        alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": "", "unsigned_data": unsigned}
    )
    assert response.status_code == 400
    assert message in response.context["verify_errors"]["unsigned"]


def test_verify_empty_is_400(alice_client, widget_a):
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": "  "})
    assert response.status_code == 400
    assert "Paste a token" in text_of(response)


def test_verify_strips_nothing_it_should_not(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    """A token broken across lines is refused, as the API refuses it, and the page says why."""
    token = ec_key.sign(fields_payload, headers={"kid": "site-1"})
    wrapped = token[:40] + "\n" + token[40:]
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": wrapped})
    assert response.context["result"]["error"]["code"] == "malformed_token"
    assert "spaces or line breaks inside" in text_of(response)


def test_verify_encrypted_token_shows_the_jwe_layer(alice_client, widget_a, registered_ec, ec_key, claims, enc_key_a):
    from keys import platform

    jws = ec_key.sign(claims(), headers={"kid": "site-1"})
    jwe = platform.encrypt_for_tenant(widget_a.tenant, jws)
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": jwe})
    result = response.context["result"]
    assert result["verified"] is True and result["body"].get("encrypted") is True
    page = text_of(response)
    assert "Encryption layer (JWE)" in page and "RSA-OAEP-256" in page and "A256GCM" in page
    assert result["report"]["header"]["kid"] == "site-1"


# --- sign with a pasted key -------------------------------------------------------------------


def _sign(client, widget, private_pem, payload, **extra):
    data = {
        "mode": "sign",
        "widget": widget.public_id,
        "payload": payload,
        "private_key": private_pem,
        "action": "sign",
    }
    data.update(extra)
    return post(client, data)


def _assert_key_absent(blob: str, private_pem: str):
    body = "".join(line for line in private_pem.splitlines() if "-----" not in line)
    assert private_pem not in blob
    assert body not in blob
    for line in private_pem.splitlines():
        if "-----" not in line and len(line) >= 16:
            assert line not in blob, "a line of the private key came back"


def test_sign_with_pasted_key_then_verify(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    import jwt

    response = _sign(alice_client, widget_a, ec_key.private_pem, json.dumps(fields_payload))
    assert response.status_code == 200
    signed = response.context["signed"]
    # Signed by our code, checked by PyJWT: an independent implementation.
    assert (
        json.loads(jwt.api_jws.decode(signed["token"], ec_key.private_key.public_key(), algorithms=["ES256"]))
        == fields_payload
    )
    assert signed["alg"] == "ES256" and signed["registered"].kid == "site-1"
    assert "kid set to 'site-1'" in text_of(response)
    _assert_key_absent(response.content.decode(), ec_key.private_pem)
    # The hand-off to Verify is a POST form with the token.
    html = response.content.decode()
    assert f'name="token" id="pg-handoff-token" value="{signed["token"]}"' in html
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": signed["token"]})
    assert response.context["result"]["verified"] is True


def test_sign_rsa_choice_of_algorithm(alice_client, widget_a, rsa_key, claims):
    response = _sign(alice_client, widget_a, rsa_key.private_pem, json.dumps(claims()), alg="RS512")
    assert response.context["signed"]["alg"] == "RS512"
    response = _sign(alice_client, widget_a, rsa_key.private_pem, json.dumps(claims()), alg="ES256")
    assert response.status_code == 400
    assert "does not fit this 2048-bit RSA key" in response.context["sign_errors"]["alg"]
    _assert_key_absent(response.content.decode(), rsa_key.private_pem)


def test_sign_unregistered_key_offers_registration(alice_client, widget_a, ec_key_2, claims):
    response = _sign(alice_client, widget_a, ec_key_2.private_pem, json.dumps(claims()))
    page = text_of(response)
    assert "This key is not registered on Acme chat" in page
    assert ec_key_2.public_pem.strip().splitlines()[1] in response.content.decode()
    assert 'value="register_test_key"' in response.content.decode()
    _assert_key_absent(response.content.decode(), ec_key_2.private_pem)


def test_sign_wrong_kid_for_the_key_is_flagged(alice_client, widget_a, registered_ec, ec_key, claims):
    response = _sign(alice_client, widget_a, ec_key.private_pem, json.dumps(claims()), kid="other")
    assert response.context["signed"]["kid_mismatch"] == "site-1"
    assert "the header names another kid" in text_of(response)


@pytest.mark.parametrize(
    ("private", "message"),
    [
        ("", "Paste a private key"),
        ("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----", "This is a public key"),
        ("not a key at all", "This is not a PEM key"),
    ],
)
def test_sign_refuses_unusable_keys(alice_client, widget_a, private, message):
    response = _sign(alice_client, widget_a, private, "{}")
    assert response.status_code == 400
    assert message in response.context["sign_errors"]["private_key"]


def test_sign_refuses_bad_payload_without_echoing_the_key(alice_client, widget_a, ec_key):
    response = _sign(alice_client, widget_a, ec_key.private_pem, '{"a": 1, "a": 2}')
    assert response.status_code == 400
    assert "twice" in response.context["sign_errors"]["payload"]
    assert '{"a": 1, "a": 2}' in response.content.decode().replace("&quot;", '"')  # the payload stays
    _assert_key_absent(response.content.decode(), ec_key.private_pem)
    assert "paste it again" in text_of(response)


def test_sign_repairs_lost_newlines_and_says_so(alice_client, widget_a, registered_ec, ec_key, fields_payload):
    flattened = ec_key.private_pem.replace("\n", "\\n")
    response = _sign(alice_client, widget_a, flattened, json.dumps(fields_payload))
    assert response.status_code == 200
    assert "two characters \\n instead of line breaks" in text_of(response)


def test_sign_templates_and_helpers_without_script(alice_client, widget_a):
    response = post(
        alice_client, {"mode": "sign", "widget": widget_a.public_id, "action": "template-claims", "payload": "[]"}
    )
    payload = json.loads(response.context["sign"]["payload"])
    assert {"name", "isLoggedIn", "email", "iat", "exp", "jti"} <= set(payload)
    response = post(
        alice_client, {"mode": "sign", "widget": widget_a.public_id, "action": "template-encrypted", "payload": "[]"}
    )
    assert "sub" in json.loads(response.context["sign"]["payload"])
    response = post(
        alice_client, {"mode": "sign", "widget": widget_a.public_id, "action": "template-fields", "payload": "{}"}
    )
    assert isinstance(json.loads(response.context["sign"]["payload"]), list)
    before = json.dumps({"name": "x", "exp": 1, "jti": "a"})
    response = post(
        alice_client, {"mode": "sign", "widget": widget_a.public_id, "action": "set-exp", "payload": before}
    )
    assert json.loads(response.context["sign"]["payload"])["exp"] > time.time()
    response = post(
        alice_client, {"mode": "sign", "widget": widget_a.public_id, "action": "set-jti", "payload": before}
    )
    assert json.loads(response.context["sign"]["payload"])["jti"] != "a"
    response = post(alice_client, {"mode": "sign", "widget": widget_a.public_id, "action": "set-iat", "payload": "[]"})
    assert response.status_code == 400 and "fields array" in response.context["sign_errors"]["payload"]


def test_sign_and_encrypt_for_the_tenant(alice_client, widget_a, registered_ec, ec_key, claims, enc_key_a):
    response = _sign(alice_client, widget_a, ec_key.private_pem, json.dumps(claims()), encrypt="on")
    signed = response.context["signed"]
    assert signed["jwe"].count(".") == 4 and "RSA-OAEP-256" in signed["jwe_header_json"]
    response = post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": signed["jwe"]})
    assert response.context["result"]["verified"] is True


def test_encrypt_mode_leaves_the_jws_unchanged(alice_client, widget_a, registered_ec, ec_key, claims, enc_key_a):
    from keys import platform

    jws = ec_key.sign(claims(), headers={"kid": "site-1"})
    payload = json.dumps(claims(), indent=2)
    response = post(alice_client, {"mode": "encrypt", "widget": widget_a.public_id, "token": jws, "payload": payload})
    signed = response.context["signed"]
    assert signed["token"] == jws
    assert response.context["sign"]["payload"] == payload  # shown again as it was typed
    inner = platform.decrypt_interaction_data(tenant_id=widget_a.tenant_id, token=signed["jwe"], max_bytes=64_000)
    assert inner == jws


def test_encrypt_without_a_tenant_key_explains(alice_client, widget_a, registered_ec, ec_key, claims):
    jws = ec_key.sign(claims(), headers={"kid": "site-1"})
    response = post(alice_client, {"mode": "encrypt", "widget": widget_a.public_id, "token": jws})
    assert response.status_code == 400
    assert "no active encryption key" in text_of(response)
    response = post(alice_client, {"mode": "encrypt", "widget": widget_a.public_id, "token": "nope"})
    assert response.status_code == 400 and "Only a signed compact JWS" in text_of(response)


# --- register a browser-made test key -----------------------------------------------------------


def _register(client, widget, public_pem, *, json_answer=True):
    headers = {"HTTP_ACCEPT": "application/json"} if json_answer else {}
    return post(client, {"mode": "register_test_key", "widget": widget.public_id, "public_key": public_pem}, **headers)


def test_admin_registers_a_test_key(alice_client, widget_a, ec_key_2):
    response = _register(alice_client, widget_a, ec_key_2.public_pem)
    assert response.status_code == 201, response.content
    body = response.json()
    key = SigningKey.objects.get(widget=widget_a, kid=body["kid"])
    assert key.is_test is True and key.name == "Test key (playground)"
    assert body["fingerprint"] == key.fingerprint_sha256
    # Registered again: refused, nothing stored twice.
    response = _register(alice_client, widget_a, ec_key_2.public_pem)
    assert response.status_code == 400 and response.json()["error"]["code"] == "duplicate_key"


def test_register_without_script_answers_with_the_page(alice_client, widget_a, ec_key_2):
    response = _register(alice_client, widget_a, ec_key_2.public_pem, json_answer=False)
    assert response.status_code == 200
    assert "registered on Acme chat" in text_of(response)


def test_developer_registers_only_where_allowed(dave_client, widget_a, ec_key_2):
    response = _register(dave_client, widget_a, ec_key_2.public_pem)
    assert response.status_code == 403
    response = _register(dave_client, widget_a, ec_key_2.public_pem, json_answer=False)
    assert response.status_code == 403
    widget_update(widget=widget_a, changes={"allow_developer_test_keys": True})
    response = _register(dave_client, widget_a, ec_key_2.public_pem)
    assert response.status_code == 201
    assert SigningKey.objects.get(widget=widget_a).is_test is True


def test_viewer_cannot_register(bob_client, widget_a, ec_key_2):
    widget_update(widget=widget_a, changes={"allow_developer_test_keys": True})
    assert _register(bob_client, widget_a, ec_key_2.public_pem).status_code == 403
    assert not SigningKey.objects.exists()


def test_register_refuses_private_key_material(alice_client, widget_a, ec_key_2):
    response = _register(alice_client, widget_a, ec_key_2.private_pem)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "private_key_rejected"
    _assert_key_absent(response.content.decode(), ec_key_2.private_pem)
    assert not SigningKey.objects.exists()


# --- decode ------------------------------------------------------------------------------------


def _token(header: dict, payload, signature: bytes = b"\x01" * 64) -> str:
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(signature)])


def test_decode_warns(alice_client, widget_a, registered_ec):
    token = _token({"alg": "HS256", "kid": "who", "jku": "https://evil.example/jwks"}, {"name": "x"})
    response = post(alice_client, {"mode": "decode", "widget": widget_a.public_id, "token": token})
    assert response.status_code == 200
    page = text_of(response)
    assert 'alg "HS256" is never accepted' in page
    assert "kid 'who' is not registered on this widget" in page
    assert "No exp: this token never expires" in page
    assert "'jku' header is ignored" in page
    assert '"name": "x"' in page


def test_decode_alg_not_fitting_the_widget(alice_client, widget_a, registered_ec):
    token = _token({"alg": "RS256", "kid": "site-1"}, {"exp": int(time.time()) + 60}, b"\x01" * 256)
    response = post(alice_client, {"mode": "decode", "widget": widget_a.public_id, "token": token})
    assert "alg RS256 fits none of this widget's active keys (they sign ES256)" in text_of(response)
    assert "Expires in 60 s" in text_of(response) or "Expires in 59 s" in text_of(response)


def test_decode_malformed_falls_back_to_a_lenient_view(alice_client, widget_a):
    header = base64.b64encode(json.dumps({"alg": "ES256"}).encode()).decode()  # padded, not base64url
    token = header + "." + b64url(b'{"a": 1}') + ".sig"
    response = post(alice_client, {"mode": "decode", "widget": widget_a.public_id, "token": token})
    page = text_of(response)
    assert "The strict parser refuses this token" in page
    assert "lenient decoder" in page
    assert '"alg": "ES256"' in page


def test_decode_a_jwe(alice_client, widget_a, registered_ec, ec_key, claims, enc_key_a):
    from keys import platform

    jwe = platform.encrypt_for_tenant(widget_a.tenant, ec_key.sign(claims(), headers={"kid": "site-1"}))
    response = post(alice_client, {"mode": "decode", "widget": widget_a.public_id, "token": jwe})
    page = text_of(response)
    assert "Encrypted token (JWE)" in page and "RSA-OAEP-256" in page
    assert '"kid": "site-1"' in page


def test_decode_empty_is_400(alice_client, widget_a):
    assert post(alice_client, {"mode": "decode", "token": ""}).status_code == 400


# --- snippets -----------------------------------------------------------------------------------


def test_snippets_tab_fills_in_the_widget(alice_client, widget_a, registered_ec):
    response = alice_client.get(url() + "?tab=snippets&format=fields")
    html = response.content.decode()
    assert widget_a.public_id in html and "site-1" in html
    for title in ("openssl", "python-jose", "PyJWT", "Node.js (jose)", "web-token", "Nimbus"):
        assert title in html
    assert "R‖S" in html


# --- a pasted private key never stays anywhere --------------------------------------------------


def test_pasted_private_key_is_never_kept(alice_client, widget_a, registered_ec, ec_key, fields_payload, caplog):
    from io import StringIO

    from django.core.management import call_command

    caplog.set_level("DEBUG")
    pem = ec_key.private_pem
    responses = [
        _sign(alice_client, widget_a, pem, json.dumps(fields_payload)),
        _sign(alice_client, widget_a, pem, "{broken"),
        _sign(alice_client, widget_a, pem, "{}", alg="RS256"),
        post(
            alice_client,
            {"mode": "sign", "widget": widget_a.public_id, "action": "set-jti", "payload": "{}", "private_key": pem},
        ),
        post(alice_client, {"mode": "verify", "widget": widget_a.public_id, "token": pem}),
        post(alice_client, {"mode": "decode", "token": pem}),
    ]
    for response in responses:
        _assert_key_absent(response.content.decode(), pem)
        assert "no-store" in response["Cache-Control"]
    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    _assert_key_absent(dump.getvalue(), pem)
    _assert_key_absent(caplog.text, pem)
    from django.contrib.sessions.models import Session

    for session in Session.objects.all():
        _assert_key_absent(json.dumps(session.get_decoded()), pem)


def test_error_reports_hide_the_private_key(rf, alice, widget_a):
    """Django's error reporter sees the POST parameter as hidden (sensitive_post_parameters)."""
    from django.views.debug import SafeExceptionReporterFilter

    from widgets.playground import playground

    request = rf.post(url(), {"private_key": "SECRET-MATERIAL", "mode": "sign"})
    request.user = alice
    request.session = {}
    try:
        playground(request, tenant_slug="acme")
    except Exception:
        pass
    assert getattr(request, "sensitive_post_parameters", None) == ("private_key",)
    cleansed = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleansed["private_key"] != "SECRET-MATERIAL"


def test_uuid_jti_in_templates_are_fresh():
    from widgets.playground import payload_template

    a, b = json.loads(payload_template("claims")), json.loads(payload_template("claims"))
    assert a["jti"] != b["jti"] and uuid.UUID(a["jti"])
    assert a["exp"] - a["iat"] == 600
