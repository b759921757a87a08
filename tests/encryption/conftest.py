"""Fixtures for the encryption work: a pool of RSA-3072 keys (generation is slow), the
platform caches emptied per test, and jwcrypto (an independent JOSE library) to make
tokens the way a website would: sign a JWS, then encrypt it as a compact JWE."""

import itertools
import json
import time
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from tests.conftest import VECTORS

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def rsa3072_pool():
    return [rsa.generate_private_key(public_exponent=65537, key_size=3072) for _ in range(3)]


@pytest.fixture(autouse=True)
def _fast_platform_keys(monkeypatch, rsa3072_pool):
    """Platform keys come from a pre-generated pool of genuine RSA-3072 keys (kids stay unique)."""
    from keys import jose

    pool = itertools.cycle(rsa3072_pool)
    monkeypatch.setattr(jose, "generate_platform_rsa_key", lambda: next(pool))


@pytest.fixture(autouse=True)
def _fresh_platform_caches():
    from keys import platform

    platform._keyrings.clear()
    platform._session_ring.clear()
    yield
    platform._keyrings.clear()
    platform._session_ring.clear()


def jc_key_from_pem(pem: str) -> jc_jwk.JWK:
    return jc_jwk.JWK.from_pem(pem.encode())


def jc_sign(private_pem: str, payload, *, alg="ES256", kid="site-1") -> str:
    """A compact JWS made by jwcrypto."""
    key = jc_jwk.JWK.from_pem(private_pem.encode())
    body = json.dumps(payload, separators=(",", ":")).encode()
    token = jc_jws.JWS(body)
    token.add_signature(key, alg=alg, protected=json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}))
    return token.serialize(compact=True)


def jc_encrypt(
    public_key, plaintext, *, alg="RSA-OAEP-256", enc="A256GCM", kid="__key__", compress=None, extra=None
) -> str:
    """A compact JWE made by jwcrypto. `public_key` is PEM text or a jwcrypto JWK; kid "__key__" = the key's kid."""
    key = jc_key_from_pem(public_key) if isinstance(public_key, str) else public_key
    header = {"alg": alg, "enc": enc, "cty": "JWT"}
    if kid == "__key__":
        kid = key.get("kid")
    if kid:
        header["kid"] = kid
    if compress:
        header["zip"] = compress
    header.update(extra or {})
    if isinstance(plaintext, str):
        plaintext = plaintext.encode()
    token = jc_jwe.JWE(plaintext, json.dumps(header), algs=[alg, enc])
    token.add_recipient(key)
    return token.serialize(compact=True)


@pytest.fixture
def wycheproof_jwe():
    return json.loads((VECTORS / "wycheproof" / "json_web_encryption_test.json").read_text())


@pytest.fixture
def nested_rfc7520():
    return json.loads((DATA / "rfc7520_section6_nested.json").read_text())


@pytest.fixture
def enc_key_a(tenant_a):
    from keys.platform import encryption_key_create

    return encryption_key_create(tenant=tenant_a)


@pytest.fixture
def enc_key_b(tenant_b):
    from keys.platform import encryption_key_create

    return encryption_key_create(tenant=tenant_b)


@pytest.fixture
def visitor_claims():
    def make(**extra):
        now = int(time.time())
        body = {"sub": "visitor-42", "name": "Jane Doe", "plan": "gold", "iat": now, "exp": now + 600}
        body["jti"] = uuid.uuid4().hex
        body.update(extra)
        return {k: v for k, v in body.items() if v is not None}

    return make
