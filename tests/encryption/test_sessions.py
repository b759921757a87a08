"""Visitor sessions: issue_session on verify, single-use redemption, the portal's session JWKS."""

import base64
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from jwcrypto import jwk as jc_jwk
from jwcrypto import jwt as jc_jwt

from keys import jose, platform
from keys.models import SessionSigningKey
from tests.encryption.conftest import jc_encrypt, jc_sign
from widgets import sessions
from widgets.models import VisitorSession
from widgets.services import widget_update

REDEEM = "/api/v1/sessions/redeem"
ROOT = Path(__file__).resolve().parents[2]


def _verify(api, widget, body):
    return api.post(f"/api/v1/widgets/{widget.public_id}/verify", body)


@pytest.fixture
def issued(api_a, widget_a, registered_ec, ec_key, visitor_claims):
    def issue(**claims):
        token = jc_sign(ec_key.private_pem, visitor_claims(**claims))
        status, body = _verify(api_a, widget_a, {"signed_interaction_data": token, "issue_session": True})
        assert status == 200, body
        return body

    return issue


def test_issue_session_token_is_an_es256_jwt_checked_by_jwcrypto(issued, widget_a, settings):
    body = issued()
    session = body["session"]
    assert set(session) == {"token", "expires_at"}
    jwks = Client().get("/.well-known/jwks.json").json()
    keyset = jc_jwk.JWKSet.from_json(json.dumps(jwks))
    checked = jc_jwt.JWT(jwt=session["token"], key=keyset, algs=["ES256"], expected_type="JWS")
    claims = json.loads(checked.claims)
    header = json.loads(checked.header)
    assert header["alg"] == "ES256" and header["kid"] == jwks["keys"][0]["kid"]
    assert claims["iss"] == settings.SIGNET["PORTAL_ISSUER"]
    assert claims["aud"] == widget_a.public_id
    assert claims["sub"] == "visitor-42"
    assert claims["exp"] - claims["iat"] == settings.SIGNET["SESSION_TOKEN_SECONDS"]
    assert len(claims["jti"]) >= 32
    assert VisitorSession.objects.get(jti=claims["jti"]).redeemed_at is None
    assert "name" not in claims  # fields stay on the server


def test_redeem_once(issued, api_a, widget_a):
    token = issued()["session"]["token"]
    status, body = api_a.post(REDEEM, {"token": token})
    assert status == 200
    assert body["widget"] == widget_a.public_id and body["sub"] == "visitor-42"
    assert {f["label"]: f["data"] for f in body["fields"]} == {"name": "Jane Doe", "plan": "gold"}
    status, body = api_a.post(REDEEM, {"token": token})
    assert status == 409 and body["error"]["code"] == "session_used"


def test_redeem_refusals(issued, api_a, api_b, widget_b):
    token = issued()["session"]["token"]
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    other_visitor = jose.b64url_encode(json.dumps({**claims, "sub": "visitor-43"}).encode())
    for bad, code in [
        ("garbage", "malformed_token"),
        ("a.b.c", "malformed_token"),
        (f"{head}.{payload}.{sig}=", "malformed_token"),
        (f"{head}.{payload}.{sig[:-4]}AAAA", "bad_signature"),
        (f"{head}.{other_visitor}.{sig}", "bad_signature"),
        (f"{head}.{payload}.", "bad_signature"),
    ]:
        status, body = api_a.post(REDEEM, {"token": bad})
        assert status == 422 and body["error"]["code"] == code, (bad, body)
    # Another tenant's API key: answered like a forged token, and the session stays redeemable.
    status, body = api_b.post(REDEEM, {"token": token})
    assert status == 422 and body["error"]["code"] == "bad_signature"
    assert api_a.post(REDEEM, {"token": token})[0] == 200
    assert api_a.post(REDEEM, {})[1]["error"]["code"] == "invalid_request"
    assert api_a.post(REDEEM, {"token": 5})[1]["error"]["code"] == "invalid_request"
    assert api_a.post(REDEEM, {"token": token, "x": 1})[1]["error"]["code"] == "invalid_request"


def test_a_token_signed_by_someone_else_is_bad_signature(issued, api_a, ec_key):
    """Same kid, same claims, signed with a key the portal does not have."""
    real = issued()["session"]["token"]
    header = json.loads(base64.urlsafe_b64decode(real.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(real.split(".")[1] + "=="))
    forged = jc_sign(ec_key.private_pem, claims, kid=header["kid"])
    status, body = api_a.post(REDEEM, {"token": forged})
    assert status == 422 and body["error"]["code"] == "bad_signature"


def test_expired_session(issued, tenant_a):
    token = issued()["session"]["token"]
    from datetime import UTC, datetime, timedelta

    later = datetime.now(UTC) + timedelta(seconds=301)
    with pytest.raises(Exception) as info:
        sessions.session_redeem(tenant=tenant_a, token=token, now=later)
    assert info.value.code == "expired" and info.value.status == 422


def test_expired_via_api(issued, api_a, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    token = issued()["session"]["token"]
    later = timezone.now() + timedelta(seconds=301)
    monkeypatch.setattr(timezone, "now", lambda: later)
    status, body = api_a.post(REDEEM, {"token": token})
    assert status == 422 and body["error"]["code"] == "expired"


def test_missing_visitor_claim_does_not_burn_the_jti(api_a, widget_a, registered_ec, ec_key, visitor_claims):
    token = jc_sign(ec_key.private_pem, visitor_claims(sub=None))
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": token, "issue_session": True})
    assert status == 422 and body["error"]["code"] == "missing_claim" and "'sub'" in body["error"]["message"]
    # The same token is still good without a session (its jti was not consumed).
    assert _verify(api_a, widget_a, {"signed_interaction_data": token})[0] == 200
    assert not VisitorSession.objects.exists()


def test_widget_names_the_visitor_claim(api_a, widget_a, registered_ec, ec_key, visitor_claims, fields_payload):
    widget_update(widget=widget_a, changes={"session_subject_claim": "customerId"})
    token = jc_sign(ec_key.private_pem, visitor_claims(customerId=124))
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": token, "issue_session": True})
    assert status == 200
    assert api_a.post(REDEEM, {"token": body["session"]["token"]})[1]["sub"] == "124"
    widget_update(widget=widget_a, changes={"session_subject_claim": "name"})
    token = jc_sign(ec_key.private_pem, fields_payload)  # a fields array: the label names the visitor
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": token, "issue_session": True})
    assert status == 200
    assert api_a.post(REDEEM, {"token": body["session"]["token"]})[1]["sub"] == "Jane Doe"


def test_no_session_without_a_verified_token(api_a, widget_a, registered_ec):
    status, body = _verify(api_a, widget_a, {"issue_session": True})
    assert status == 422 and body["error"]["code"] == "signature_required"
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": "x.y.z", "issue_session": True})
    assert status == 422 and body["error"]["code"] == "malformed_token"


def test_monitor_answers_a_failing_token_200_without_a_session(api_a, widget_a, registered_ec, ec_key_2, claims):
    # API.md: "In monitor ... a failing token is not a 422"; asking for a session does not change that.
    widget_update(widget=widget_a, changes={"enforcement": "monitor"})
    token = jc_sign(ec_key_2.private_pem, claims())  # a key this widget does not have
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": token, "issue_session": True})
    assert status == 200 and body["verified"] is False and "session" not in body
    assert body["would_reject"]["code"] == "bad_signature"
    # without a token there is nothing to stand for: still a 422, in every mode
    status, body = _verify(api_a, widget_a, {"issue_session": True})
    assert status == 422 and body["error"]["code"] == "signature_required"


@pytest.mark.parametrize("where", ["sub", "name"])
def test_no_session_for_signed_data_holding_nul(api_a, widget_a, registered_ec, ec_key, visitor_claims, where):
    # PostgreSQL text and jsonb cannot hold NUL: a specific 422 on every database, nothing stored, jti not spent.
    token = jc_sign(ec_key.private_pem, visitor_claims(**{where: "a\x00b"}))
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": token, "issue_session": True})
    assert status == 422 and body["error"]["code"] == "invalid_payload" and "NUL" in body["error"]["message"]
    assert not VisitorSession.objects.exists()
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 200 and body["verified"] is True  # the same token, without a session


def test_no_session_unless_asked(issued, api_a, widget_a, registered_ec, ec_key, visitor_claims):
    token = jc_sign(ec_key.private_pem, visitor_claims())
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": token})
    assert status == 200 and "session" not in body


def test_encrypted_token_with_session(api_a, widget_a, registered_ec, enc_key_a, ec_key, visitor_claims):
    jwk = jc_jwk.JWK(**api_a.get("/api/v1/encryption-keys")[1]["keys"][0]["jwk"])
    token = jc_encrypt(jwk, jc_sign(ec_key.private_pem, visitor_claims()))
    status, body = _verify(api_a, widget_a, {"signed_interaction_data": token, "issue_session": True})
    assert status == 200 and body["encrypted"] is True
    assert api_a.post(REDEEM, {"token": body["session"]["token"]})[1]["sub"] == "visitor-42"


def test_jwks_is_public_cacheable_and_private_free(issued):
    issued()
    response = Client().get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "public" in response["Cache-Control"] and "max-age" in response["Cache-Control"]
    keys = response.json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "EC" and keys[0]["crv"] == "P-256" and keys[0]["alg"] == "ES256"
    assert keys[0]["use"] == "sig" and "d" not in keys[0]
    row = SessionSigningKey.objects.get()
    assert row.private_key_encrypted.startswith("v1:") and "PRIVATE" not in row.private_key_encrypted


def test_session_key_rotation(issued, api_a, tenant_a):
    from django.core.management import call_command

    old_token = issued()["session"]["token"]
    old_kid = SessionSigningKey.objects.get().kid
    out = io.StringIO()
    call_command("rotate_session_key", stdout=out)
    assert out.getvalue().startswith("New session key ses-") and out.getvalue().count("\n") == 1
    new_token = issued()["session"]["token"]
    kids = [k["kid"] for k in Client().get("/.well-known/jwks.json").json()["keys"]]
    assert old_kid in kids and len(kids) == 2
    assert json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"] != old_kid
    assert api_a.post(REDEEM, {"token": old_token})[0] == 200  # old key still verifies
    # Once a session lifetime has passed since the rotation, the old key retires.
    from datetime import timedelta

    from django.utils import timezone

    SessionSigningKey.objects.filter(kid=old_kid).update(created_at=timezone.now() - timedelta(hours=2))
    SessionSigningKey.objects.exclude(kid=old_kid).update(created_at=timezone.now() - timedelta(hours=1))
    assert platform.session_keys_retire_superseded() == 1
    kids = [k["kid"] for k in Client().get("/.well-known/jwks.json").json()["keys"]]
    assert old_kid not in kids
    assert api_a.post(REDEEM, {"token": issued()["session"]["token"]})[0] == 200


def _race(token, api_raw_key, n=8):
    from tests.conftest import ApiClient

    barrier = threading.Barrier(n)
    results = []

    def redeem():
        try:
            client = ApiClient(api_raw_key)
            barrier.wait()
            results.append(client.post(REDEEM, {"token": token})[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_exactly_one_wins(issued, api_a):
    """Threads on their own connections, through the API. Run it with DATABASE_URL=postgres://... too."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("the in-memory shared-cache SQLite test database locks whole tables; see the on-disk test below")
    for _ in range(3):
        token = issued()["session"]["token"]
        results = _race(token, api_a.raw_key)
        assert results == [200] + [409] * 7, (connection.vendor, results)


def test_concurrent_redemptions_on_an_on_disk_sqlite_database(tmp_path):
    """The production SQLite set-up (WAL, busy timeout, IMMEDIATE), in a fresh process and database file."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}",
        "SIGNET_TESTING": "1",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("race_redeem.py")), "8", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["vendor"] == "sqlite"
    assert report["outcomes"] == [[200] + [409] * 7] * 3
