"""POST /api/v1/widgets/<id>/verify with a JWE: decrypt, then verify the inner JWS exactly as a plain one.

Websites' tokens are made by jwcrypto: sign (ES256) then encrypt (RSA-OAEP-256 + A256GCM)
to the public key the API published.
"""

import json

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import connection
from django.test.utils import CaptureQueriesContext
from jwcrypto import jwk as jc_jwk

from keys import jose
from tests.encryption.conftest import jc_encrypt, jc_sign
from widgets.services import widget_update


def _verify_url(widget):
    return f"/api/v1/widgets/{widget.public_id}/verify"


def _published_jwk(api):
    """The key a website downloads: the newest active one, as a JWK."""
    keys = [k for k in api.get("/api/v1/encryption-keys")[1]["keys"] if k["status"] == "active"]
    return jc_jwk.JWK(**keys[0]["jwk"])


def _site_token(ec_key, payload, **kw) -> str:
    return jc_sign(ec_key.private_pem, payload, **kw)


@pytest.fixture
def setup(api_a, widget_a, registered_ec, enc_key_a):
    return api_a, widget_a


def test_sign_then_encrypt_verifies(setup, ec_key, visitor_claims):
    api, widget = setup
    token = jc_encrypt(_published_jwk(api), _site_token(ec_key, visitor_claims()))
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": token})
    assert status == 200, body
    assert body["verified"] is True and body["encrypted"] is True
    assert body["kid"] == "site-1" and body["alg"] == "ES256"
    assert {f["label"]: f["data"] for f in body["fields"]} == {"name": "Jane Doe", "plan": "gold"}
    assert body["claims"]["sub"] == "visitor-42"


def test_plain_tokens_say_nothing_about_encryption(setup, ec_key, visitor_claims):
    api, widget = setup
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": _site_token(ec_key, visitor_claims())})
    assert status == 200 and "encrypted" not in body


def test_fields_array_payload_and_no_kid(setup, ec_key, fields_payload):
    api, widget = setup
    token = jc_encrypt(_published_jwk(api), _site_token(ec_key, fields_payload), kid=None)
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": token})
    assert status == 200 and body["encrypted"] is True
    assert [f["label"] for f in body["fields"]] == ["name", "customer_id", "logged_in"]


def test_inner_token_is_verified_exactly_as_a_plain_one(setup, ec_key, ec_key_2, visitor_claims):
    api, widget = setup
    pub = _published_jwk(api)
    cases = [
        (_site_token(ec_key_2, visitor_claims()), "bad_signature"),
        (_site_token(ec_key, visitor_claims(), kid="nope"), "unknown_key"),
        (_site_token(ec_key, visitor_claims(exp=1_000_000)), "expired"),
        ("not-a-jws", "malformed_token"),
        ("a.b", "malformed_token"),
    ]
    for inner, code in cases:
        status, body = api.post(_verify_url(widget), {"signed_interaction_data": jc_encrypt(pub, inner)})
        assert status == 422 and body["verified"] is False and body["error"]["code"] == code, (inner, body)


def test_replay_of_the_inner_jti_is_refused(setup, ec_key, visitor_claims):
    api, widget = setup
    inner = _site_token(ec_key, visitor_claims())
    pub = _published_jwk(api)
    assert api.post(_verify_url(widget), {"signed_interaction_data": jc_encrypt(pub, inner)})[0] == 200
    # Re-encrypting the same JWS does not make it new.
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": jc_encrypt(pub, inner)})
    assert status == 422 and body["error"]["code"] == "replayed"


@pytest.mark.parametrize(
    ("alg", "enc", "compress"),
    [
        ("RSA1_5", "A256GCM", None),
        ("RSA-OAEP", "A256GCM", None),
        ("RSA-OAEP-256", "A128CBC-HS256", None),
        ("RSA-OAEP-256", "A128GCM", None),
        ("RSA-OAEP-256", "A256GCM", "DEF"),
    ],
)
def test_other_algorithms_and_zip_are_refused(setup, ec_key, visitor_claims, alg, enc, compress):
    api, widget = setup
    token = jc_encrypt(_published_jwk(api), _site_token(ec_key, visitor_claims()), alg=alg, enc=enc, compress=compress)
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "unsupported_algorithm"


def test_decompression_bomb_is_refused_without_decrypting(setup, monkeypatch):
    api, widget = setup

    def forbidden(*a, **k):
        raise AssertionError("must not decrypt")

    monkeypatch.setattr(jose.jose_jwe, "decrypt", forbidden)
    bomb = jc_encrypt(_published_jwk(api), b"\x00" * (10 * 1024 * 1024), compress="DEF")
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": bomb})
    assert status == 422 and body["error"]["code"] == "unsupported_algorithm"


def test_wrong_key_tampering_and_truncation(setup, api_b, enc_key_b, ec_key, visitor_claims):
    api, widget = setup
    inner = _site_token(ec_key, visitor_claims())
    # Encrypted to another tenant's key (same kid shape): cannot decrypt here.
    other = jc_encrypt(_published_jwk(api_b), inner, kid=None)
    assert api.post(_verify_url(widget), {"signed_interaction_data": other})[1]["error"]["code"] == "decryption_failed"
    token = jc_encrypt(_published_jwk(api), inner)
    parts = token.split(".")
    tag = bytearray(jose.b64url_decode_strict(parts[4]))
    tag[0] ^= 1
    tampered = ".".join([*parts[:4], jose.b64url_encode(bytes(tag))])
    assert api.post(_verify_url(widget), {"signed_interaction_data": tampered})[1]["error"]["code"] == (
        "decryption_failed"
    )
    truncated = ".".join(parts[:4])
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": truncated})
    assert status == 422 and body["error"]["code"] == "malformed_token"


def test_token_size_limit_applies_to_the_jwe(setup, ec_key, visitor_claims, settings):
    api, widget = setup
    token = jc_encrypt(_published_jwk(api), _site_token(ec_key, visitor_claims(padding="x" * 12000)))
    assert len(token) > 16 * 1024
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "token_too_large"


def test_rotation_old_key_decrypts_until_retired(api_a, widget_a, registered_ec, ec_key, visitor_claims):
    old = api_a.post("/api/v1/encryption-keys")[1]
    old_jwk = jc_jwk.JWK(**old["jwk"])
    token_old = lambda: jc_encrypt(old_jwk, _site_token(ec_key, visitor_claims()))  # noqa: E731
    assert api_a.post(_verify_url(widget_a), {"signed_interaction_data": token_old()})[0] == 200
    new = api_a.post("/api/v1/encryption-keys")[1]
    assert _published_jwk(api_a)["kid"] == new["kid"]
    # Websites still on the old key keep working...
    assert api_a.post(_verify_url(widget_a), {"signed_interaction_data": token_old()})[0] == 200
    # ...with or without a kid (every active key is tried).
    no_kid = jc_encrypt(old_jwk, _site_token(ec_key, visitor_claims()), kid=None)
    assert api_a.post(_verify_url(widget_a), {"signed_interaction_data": no_kid})[0] == 200
    assert api_a.post(f"/api/v1/encryption-keys/{old['kid']}/retire")[0] == 200
    for token in (token_old(), jc_encrypt(old_jwk, _site_token(ec_key, visitor_claims()), kid=None)):
        status, body = api_a.post(_verify_url(widget_a), {"signed_interaction_data": token})
        assert status == 422 and body["error"]["code"] == "decryption_failed"
    status, body = api_a.post(_verify_url(widget_a), {"signed_interaction_data": token_old()})
    assert "retired" in body["error"]["message"]
    new_token = jc_encrypt(jc_jwk.JWK(**new["jwk"]), _site_token(ec_key, visitor_claims()))
    assert api_a.post(_verify_url(widget_a), {"signed_interaction_data": new_token})[0] == 200


def test_no_active_key(api_a, widget_a, registered_ec, ec_key, visitor_claims, rsa3072_pool):
    pem = rsa3072_pool[0].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    token = jc_encrypt(pem.decode(), _site_token(ec_key, visitor_claims()))
    status, body = api_a.post(_verify_url(widget_a), {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "decryption_failed"
    assert "no active encryption key" in body["error"]["message"]


def test_encryption_required_policy(setup, ec_key, visitor_claims):
    api, widget = setup
    widget_update(widget=widget, changes={"encryption_required": True})
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": _site_token(ec_key, visitor_claims())})
    assert status == 422 and body["error"]["code"] == "encryption_required"
    token = jc_encrypt(_published_jwk(api), _site_token(ec_key, visitor_claims()))
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": token})
    assert status == 200 and body["encrypted"] is True


def test_encryption_required_holds_in_a_batch(setup, ec_key, visitor_claims):
    # The batch checks plain tokens' signatures up front: a plain token to a widget that requires
    # encryption must still be refused, whatever its signature.
    api, widget = setup
    widget_update(widget=widget, changes={"encryption_required": True})
    items = [
        {"signed_interaction_data": _site_token(ec_key, visitor_claims())},
        {"signed_interaction_data": jc_encrypt(_published_jwk(api), _site_token(ec_key, visitor_claims()))},
    ]
    status, body = api.post(f"/api/v1/widgets/{widget.public_id}/verify-batch", {"items": items})
    assert status == 200
    plain, encrypted = body["results"]
    assert plain["verified"] is False and plain["error"]["code"] == "encryption_required"
    assert encrypted["verified"] is True and encrypted["encrypted"] is True


def test_batch_verify_mixes_plain_and_encrypted(setup, ec_key, visitor_claims):
    api, widget = setup
    items = [
        {"signed_interaction_data": jc_encrypt(_published_jwk(api), _site_token(ec_key, visitor_claims()))},
        {"signed_interaction_data": _site_token(ec_key, visitor_claims())},
        {"signed_interaction_data": jc_encrypt(_published_jwk(api), "x.y.z", alg="RSA1_5")},
    ]
    status, body = api.post(f"/api/v1/widgets/{widget.public_id}/verify-batch", {"items": items})
    assert status == 200
    first, second, third = body["results"]
    assert first["encrypted"] is True and "encrypted" not in second
    assert third["error"]["code"] == "unsupported_algorithm"


def test_warm_path_reads_no_encryption_key_rows(setup, ec_key, visitor_claims):
    api, widget = setup
    pub = _published_jwk(api)
    api.post(_verify_url(widget), {"signed_interaction_data": jc_encrypt(pub, _site_token(ec_key, visitor_claims()))})
    token = jc_encrypt(pub, _site_token(ec_key, visitor_claims()))
    with CaptureQueriesContext(connection) as queries:
        status, _ = api.post(_verify_url(widget), {"signed_interaction_data": token})
    assert status == 200
    assert not [q for q in queries.captured_queries if "keys_encryptionkey" in q["sql"]]


def test_rfc7520_nested_jws_goes_through_the_same_verifier(setup, nested_rfc7520):
    """RFC 7520 section 6's PS256 JWT, encrypted to our key: it decrypts, then the JWS rules refuse PS256."""
    api, widget = setup
    token = jc_encrypt(_published_jwk(api), nested_rfc7520["jws_compact"])
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": token})
    assert status == 422 and body["error"]["code"] == "unsupported_algorithm"
    assert "PS256" in body["error"]["message"]
    # As published (RSA-OAEP + A128GCM) it is refused before decryption.
    status, body = api.post(_verify_url(widget), {"signed_interaction_data": nested_rfc7520["jwe_compact"]})
    assert status == 422 and body["error"]["code"] == "unsupported_algorithm"
    assert "RSA-OAEP" in body["error"]["message"] and json.dumps(body).count("A128GCM") >= 1


def test_encrypt_for_tenant_and_describe_jwe_helpers(tenant_a, enc_key_a):
    from keys import platform

    token = platform.encrypt_for_tenant(tenant_a, "a.b.c")
    header = platform.describe_jwe(token)
    assert header == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT", "kid": enc_key_a.kid}
    assert platform.decrypt_interaction_data(tenant_id=tenant_a.pk, token=token, max_bytes=16384) == "a.b.c"
