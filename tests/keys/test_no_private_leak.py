"""Proof that pasted private key material reaches no response, no table and no log line.

Each private form is sent through the JSON API, through keys.services and
through the portal page, while every logger records at DEBUG and every SQL
statement is captured with its parameters. Afterwards every row of every table
(read with raw SQL, so nothing is missed) and everything recorded is searched
for every line of the pasted body and every 16-character base64 piece of it.
"""

import base64
import json
import logging
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from jwcrypto import jwk as jwcrypto_jwk

from keys.models import SigningKey
from keys.services import signing_key_register
from portal.errors import ServiceError

CHUNK = 16


def _pieces(secret_text: str) -> set[str]:
    """Every line of the body and every CHUNK-long piece of its base64 (and of each JWK private member)."""
    pieces = set()
    try:
        jwk = json.loads(secret_text)
    except ValueError:
        jwk = None
    if isinstance(jwk, dict):
        values = [jwk[m] for m in ("d", "p", "q", "dp", "dq", "qi") if m in jwk]
    else:
        body = re.sub(r"-----[A-Z0-9 ]*-----", "\n", secret_text)
        values = [line.strip() for line in body.splitlines() if line.strip()]
        values.append("".join(values))
    for value in values:
        if len(value) >= CHUNK:
            pieces.add(value)
        pieces.update(value[i : i + CHUNK] for i in range(0, len(value) - CHUNK + 1))
    return {piece for piece in pieces if len(piece) >= CHUNK}


def _private_forms():
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    ec_pkcs8 = ec_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, none).decode()
    rsa_pkcs1 = rsa_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, none).decode()
    ec_public = ec_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    rsa_der = rsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, none)
    encrypted = ec_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"passphrase")
    ).decode()
    return {
        "EC PKCS#8": ec_pkcs8,
        "RSA PRIVATE KEY": rsa_pkcs1,
        "bundle: public + private": ec_public + ec_pkcs8,
        "one line": " ".join(rsa_pkcs1.splitlines()),
        "bare base64 DER": base64.b64encode(rsa_der).decode(),
        "ENCRYPTED PRIVATE KEY": encrypted,
        "EC JWK with d": jwcrypto_jwk.JWK.from_pyca(ec_key).export_private(),
        "RSA JWK with d p q dp dq qi": jwcrypto_jwk.JWK.from_pyca(rsa_key).export_private(),
    }


PRIVATE_FORMS = _private_forms()


def _all_rows() -> str:
    """Every row of every table in the database, read with raw SQL."""
    out = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            out.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(out)


def _model_rows() -> str:
    out = []
    for model in apps.get_models(include_auto_created=True):
        out.extend(repr(row) for row in model._default_manager.all().values())
    return "\n".join(out)


def _assert_absent(pieces: set[str], where: str, haystack: str) -> None:
    leaked = sorted(piece for piece in pieces if piece in haystack)
    assert not leaked, f"{len(leaked)} piece(s) of the private key found in {where}"


@pytest.fixture
def capture_everything(caplog):
    caplog.set_level(logging.DEBUG)  # the root logger: every logger propagates here
    for name in ("django", "django.request", "django.db.backends", "signet", "signet.api", "signet.keys"):
        caplog.set_level(logging.DEBUG, logger=name)
    with CaptureQueriesContext(connection) as queries:
        yield caplog, queries


def _recorded(caplog, queries) -> str:
    records = "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''} {getattr(r, 'request', '')!r}" for r in caplog.records
    )
    sql = "\n".join(f"{q['sql']}" for q in queries.captured_queries)
    return "\n".join((caplog.text, records, sql))


@pytest.mark.parametrize("form", list(PRIVATE_FORMS))
def test_private_key_through_the_api_leaves_no_trace(api_a, widget_a, capture_everything, form):
    caplog, queries = capture_everything
    secret = PRIVATE_FORMS[form]
    pieces = _pieces(secret)
    assert pieces
    responses = []
    for payload in ({"public_key": secret}, {"public_key": secret, "kid": "k1", "name": "mine"}):
        response = api_a.client.post(
            f"/api/v1/widgets/{widget_a.public_id}/keys",
            data=json.dumps(payload),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}",
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "private_key_rejected"
        responses.append(response.content.decode() + "\n" + "\n".join(f"{k}: {v}" for k, v in response.items()))
    if form.endswith("JWK with d") or form.startswith("RSA JWK"):
        as_object = json.loads(secret)
        response = api_a.client.post(
            f"/api/v1/widgets/{widget_a.public_id}/keys",
            data=json.dumps({"public_key": as_object}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}",
        )
        assert response.status_code == 400
        responses.append(response.content.decode())

    _assert_absent(pieces, "the response", "\n".join(responses))
    _assert_absent(pieces, "the logs and SQL", _recorded(caplog, queries))
    _assert_absent(pieces, "the database", _all_rows())
    _assert_absent(pieces, "the models", _model_rows())
    assert SigningKey.objects.count() == 0
    # The refusal is logged, without the material (who/where only).
    assert any("private key refused" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("form", list(PRIVATE_FORMS))
def test_private_key_through_the_service_leaves_no_trace(widget_a, alice, capture_everything, form):
    caplog, queries = capture_everything
    secret = PRIVATE_FORMS[form]
    pieces = _pieces(secret)
    with pytest.raises(ServiceError) as info:
        signing_key_register(widget=widget_a, public_key=secret, kid="k1", name="n", actor=alice)
    exc = info.value
    assert exc.code == "private_key_rejected" and exc.field == "public_key"
    assert exc.__cause__ is None and exc.__suppress_context__
    _assert_absent(pieces, "the exception", f"{exc} {exc!r} {exc.args!r} {exc.message}")
    _assert_absent(pieces, "the logs and SQL", _recorded(caplog, queries))
    _assert_absent(pieces, "the database", _all_rows())
    assert SigningKey.objects.count() == 0


@pytest.mark.parametrize("form", ["EC PKCS#8", "bundle: public + private", "bare base64 DER", "EC JWK with d"])
def test_private_key_through_the_page_leaves_no_trace(alice_client, widget_a, capture_everything, form):
    caplog, queries = capture_everything
    secret = PRIVATE_FORMS[form]
    pieces = _pieces(secret)
    url = reverse("widgets:key_add", kwargs={"tenant_slug": widget_a.tenant.slug, "widget_id": widget_a.public_id})
    response = alice_client.post(url, {"public_key": secret, "kid": "", "name": "mine"}, follow=True)
    assert response.status_code in (200, 400)
    page = response.content.decode()
    assert "exposed" in page
    _assert_absent(pieces, "the page", page)
    _assert_absent(pieces, "the logs and SQL", _recorded(caplog, queries))
    _assert_absent(pieces, "the database", _all_rows())
    assert SigningKey.objects.count() == 0


def test_a_public_key_is_stored_and_the_check_can_see_it(api_a, widget_a, ec_key, capture_everything):
    """The searches above can find things: a registered public key is found in the table dump."""
    status, _ = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/keys", {"public_key": ec_key.public_pem})
    assert status == 201
    public_pieces = _pieces(ec_key.public_pem)
    assert any(piece in _all_rows() for piece in public_pieces)
