"""GET/POST /api/v1/encryption-keys, POST .../<kid>/retire: public halves out, private halves never."""

import base64
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connection

from keys import jose, kek, platform
from keys.models import EncryptionKey
from portal.models import AuditEvent

URL = "/api/v1/encryption-keys"
REAL_GENERATOR = jose.generate_platform_rsa_key  # bound at import, before the pool fixture patches it


def _private_der(key: EncryptionKey) -> bytes:
    return kek.unseal(key.private_key_encrypted, aad=platform._enc_aad(key.tenant_id, key.kid))


def test_create_list_and_shape(api_a):
    status, empty = api_a.get(URL)
    assert (status, empty) == (200, {"keys": []})
    status, body = api_a.post(URL)
    assert status == 201
    assert set(body) >= {"kid", "status", "public_key_pem", "jwk", "created_at"}
    assert body["status"] == "active"
    assert body["created_at"].endswith("Z")
    public = serialization.load_pem_public_key(body["public_key_pem"].encode())
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
    jwk = body["jwk"]
    assert jwk["kty"] == "RSA" and jwk["use"] == "enc" and jwk["alg"] == "RSA-OAEP-256"
    assert jwk["kid"] == body["kid"]
    assert set(jwk) == {"kty", "n", "e", "kid", "use", "alg"}
    numbers = public.public_numbers()
    assert jose.b64url_decode_strict(jwk["n"]) == numbers.n.to_bytes(384, "big")
    facts = jose.describe_public_key(public)
    assert body["fingerprint_sha256"] == facts.fingerprint_sha256
    status, listing = api_a.get(URL)
    assert [k["kid"] for k in listing["keys"]] == [body["kid"]]


def test_empty_json_object_is_accepted_and_unknown_fields_are_not(api_a):
    assert api_a.post(URL, {})[0] == 201
    status, body = api_a.post(URL, {"bits": 1024})
    assert status == 400 and body["error"]["code"] == "invalid_request" and body["error"]["field"] == "bits"


def test_rotation_lists_newest_first_and_retire(api_a):
    first = api_a.post(URL)[1]
    second = api_a.post(URL)[1]
    assert first["kid"] != second["kid"]
    listing = api_a.get(URL)[1]["keys"]
    assert [k["kid"] for k in listing] == [second["kid"], first["kid"]]
    status, retired = api_a.post(f"{URL}/{first['kid']}/retire")
    assert status == 200 and retired["status"] == "retired" and retired["retired_at"]
    # Retiring again is harmless.
    assert api_a.post(f"{URL}/{first['kid']}/retire")[1]["status"] == "retired"
    actions = list(AuditEvent.objects.filter(action__startswith="encryption_key.").values_list("action", "target"))
    assert ("encryption_key.retired", first["kid"]) in actions
    assert ("encryption_key.created", second["kid"]) in actions


def test_another_tenants_key_is_not_found(api_a, api_b):
    kid = api_b.post(URL)[1]["kid"]
    status, body = api_a.post(f"{URL}/{kid}/retire")
    assert status == 404 and body["error"]["code"] == "not_found"
    assert api_a.get(URL)[1] == {"keys": []}
    assert api_a.post(f"{URL}/no-such-kid/retire")[0] == 404
    assert EncryptionKey.objects.get(kid=kid).status == "active"


def test_api_key_required(api_a):
    from tests.conftest import ApiClient

    assert ApiClient(None).get(URL)[0] == 401
    assert ApiClient("sgn_wrongwrong12_x").post(URL)[0] == 401


def test_private_half_is_stored_only_sealed(api_a, tenant_a):
    kid = api_a.post(URL)[1]["kid"]
    key = EncryptionKey.objects.get(tenant=tenant_a, kid=kid)
    der = _private_der(key)
    private = serialization.load_der_private_key(der, password=None)
    assert (
        private.public_key().public_numbers().n
        == serialization.load_pem_public_key(key.public_key_pem.encode()).public_numbers().n
    )
    # The raw column, as the database holds it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key_encrypted FROM keys_encryptionkey WHERE id = %s", [key.pk])
        (raw,) = cursor.fetchone()
    assert raw.startswith(f"v1:{kek.keyring().current.id}:")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = pem.split("-----")[2].replace("\n", "")
    for clear in (pem, body[:64], base64.b64encode(der).decode()[:64], jose.b64url_encode(der)[:64], der.hex()[:64]):
        assert clear not in raw
    d = private.private_numbers().d
    assert jose.b64url_encode(d.to_bytes((d.bit_length() + 7) // 8, "big"))[:32] not in raw


def test_no_private_material_in_responses_or_logs(api_a, tenant_a, caplog):
    with caplog.at_level(logging.DEBUG):
        created = api_a.call("POST", URL)
        listing = api_a.get(URL)
    key = EncryptionKey.objects.get(tenant=tenant_a)
    private = serialization.load_der_private_key(_private_der(key), password=None)
    numbers = private.private_numbers()
    secrets_text = [
        jose.b64url_encode(numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big"))[:32],
        jose.b64url_encode(numbers.p.to_bytes((numbers.p.bit_length() + 7) // 8, "big"))[:32],
        str(numbers.d)[:40],
    ]
    text = str(created) + str(listing) + caplog.text + key.private_key_encrypted[:0]
    for secret in secrets_text:
        assert secret not in text
    assert "PRIVATE KEY" not in text
    assert '"d"' not in str(created) and "'d'" not in str(created)
    assert "private_key_encrypted" not in str(listing)
    assert key.private_key_encrypted not in str(listing)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused(api_a, method):
    status, body = api_a.call(method, URL)
    assert status == 405 and body["error"]["code"] == "method_not_allowed"


def test_real_generator_makes_rsa_3072():
    """The pool fixture stands in for generation elsewhere; the real generator is checked once."""
    key = REAL_GENERATOR()
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072 and key.public_key().public_numbers().e == 65537
