"""Signing keys through the JSON API (../shared/API.md "Signing keys"): paste -> fingerprint -> revoke.

Expected values (fingerprints, RFC 7638 thumbprints) are computed here with
`cryptography`, hashlib and jwcrypto, not with our own JOSE code.
"""

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.db import connection
from jwcrypto import jwk as jwcrypto_jwk

from keys import services
from keys.models import KeyStatus, SigningKey
from keys.services import signing_key_register
from portal.errors import ServiceError
from portal.models import AuditEvent
from widgets.models import Widget

KEY_FIELDS = {
    "kid",
    "name",
    "key_type",
    "curve",
    "bits",
    "algorithms",
    "fingerprint_sha256",
    "jwk_thumbprint",
    "status",
    "created_at",
    "expires_at",
    "last_used_at",
}


def keys_url(widget):
    return f"/api/v1/widgets/{widget.public_id}/keys"


def fingerprint_of(private_key) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()  # what `sha256sum` prints (API.md: "<hex of SPKI DER>")


def thumbprint_of(private_key) -> str:
    return jwcrypto_jwk.JWK.from_pyca(private_key.public_key()).thumbprint()


def public_jwk(private_key, **extra) -> dict:
    data = json.loads(jwcrypto_jwk.JWK.from_pyca(private_key.public_key()).export_public())
    data.update(extra)
    return data


def certificate_pem(private_key, days_left: float) -> tuple[str, datetime]:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "site.example")])
    now = datetime.now(UTC)
    not_after = (now + timedelta(days=days_left)).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, not_after) - timedelta(days=300))
        .not_valid_after(not_after)
        .sign(private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), not_after


def assert_key_shape(body: dict) -> None:
    assert KEY_FIELDS <= set(body)
    assert body["key_type"] in ("EC", "RSA")
    assert body["status"] in ("active", "revoked", "expired")
    assert isinstance(body["algorithms"], list) and body["algorithms"]
    assert body["created_at"].endswith("Z")


def assert_refusal(status, body, code, field="public_key"):
    assert status == 400, body
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if field:
        assert body["error"]["field"] == field


# --- paste -> 201 with the contract's Key ----------------------------------------------------


def _forms(ec_key, rsa_key):
    ec_pem = ec_key.public_pem
    rsa_pkcs1 = (
        rsa_key.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    return {
        "EC SPKI PEM": (ec_key, ec_pem, "spki"),
        "RSA SPKI PEM": (rsa_key, rsa_key.public_pem, "spki"),
        "RSA PUBLIC KEY (PKCS#1)": (rsa_key, rsa_pkcs1, "pkcs1"),
        "certificate": (ec_key, certificate_pem(ec_key.private_key, 200)[0], "certificate"),
        "JWK object": (ec_key, public_jwk(ec_key.private_key), "jwk"),
        "JWK JSON text": (rsa_key, json.dumps(public_jwk(rsa_key.private_key)), "jwk"),
        "CRLF": (ec_key, ec_pem.replace("\n", "\r\n"), "spki"),
        "one line": (ec_key, " ".join(ec_pem.split("\n")), "spki"),
        "literal \\n": (rsa_key, rsa_key.public_pem.replace("\n", "\\n"), "spki"),
        "blank lines, spaces, no final newline": (ec_key, "\n\n  " + ec_pem.rstrip("\n") + "  ", "spki"),
    }


@pytest.mark.parametrize(
    "form",
    [
        "EC SPKI PEM",
        "RSA SPKI PEM",
        "RSA PUBLIC KEY (PKCS#1)",
        "certificate",
        "JWK object",
        "JWK JSON text",
        "CRLF",
        "one line",
        "literal \\n",
        "blank lines, spaces, no final newline",
    ],
)
def test_each_accepted_form_is_registered(api_a, widget_a, ec_key, rsa_key, form):
    pair, value, source = _forms(ec_key, rsa_key)[form]
    status, body = api_a.post(keys_url(widget_a), {"public_key": value, "name": f"  {form}  "})
    assert status == 201, body
    assert_key_shape(body)
    assert body["fingerprint_sha256"] == fingerprint_of(pair.private_key)
    assert body["jwk_thumbprint"] == thumbprint_of(pair.private_key)
    assert body["kid"] == body["jwk_thumbprint"]  # no kid given: the RFC 7638 thumbprint
    assert body["status"] == "active" and body["name"] == form and body["last_used_at"] is None
    if pair is ec_key:
        assert (body["key_type"], body["curve"], body["bits"], body["algorithms"]) == ("EC", "P-256", 256, ["ES256"])
    else:
        assert (body["key_type"], body["curve"], body["bits"]) == ("RSA", None, 2048)
        assert sorted(body["algorithms"]) == ["RS256", "RS384", "RS512"]
    stored = SigningKey.objects.get(widget=widget_a)
    assert stored.source_format == source
    assert stored.public_key_pem == pair.public_pem  # normalised SPKI, whatever was pasted


def test_paste_fingerprint_revoke(api_a, widget_a, ec_key, rsa_key):
    url = keys_url(widget_a)
    status, first = api_a.post(url, {"public_key": ec_key.public_pem, "kid": "site-2026", "name": "Site"})
    assert status == 201 and first["kid"] == "site-2026"
    status, second = api_a.post(url, {"public_key": public_jwk(rsa_key.private_key, kid="rsa-1")})
    assert status == 201 and second["kid"] == "rsa-1"  # the JWK's own kid

    status, listed = api_a.get(url)
    assert status == 200
    assert {k["kid"]: k["fingerprint_sha256"] for k in listed["keys"]} == {
        "site-2026": fingerprint_of(ec_key.private_key),
        "rsa-1": fingerprint_of(rsa_key.private_key),
    }
    for key in listed["keys"]:
        assert_key_shape(key)

    status, revoked = api_a.post(f"{url}/site-2026/revoke")
    assert status == 200 and revoked["status"] == "revoked" and revoked["kid"] == "site-2026"
    assert_key_shape(revoked)
    status, again = api_a.post(f"{url}/site-2026/revoke")
    assert status == 200 and again["status"] == "revoked"
    status, listed = api_a.get(url)
    assert {k["kid"]: k["status"] for k in listed["keys"]} == {"site-2026": "revoked", "rsa-1": "active"}

    status, jwks = api_a.get(f"/api/v1/widgets/{widget_a.public_id}/jwks.json")
    assert status == 200
    assert [k["kid"] for k in jwks["keys"]] == ["rsa-1"]
    (published,) = jwks["keys"]
    assert published["alg"] == "RS256" and published["use"] == "sig" and published["kty"] == "RSA"
    assert jwcrypto_jwk.JWK(**published).thumbprint() == thumbprint_of(rsa_key.private_key)
    assert not set(published) & {"d", "p", "q", "dp", "dq", "qi"}

    actions = list(AuditEvent.objects.filter(tenant=widget_a.tenant).values_list("action", flat=True))
    assert actions.count("key.added") == 2 and actions.count("key.revoked") == 1


def test_jwks_lists_only_active_keys(api_a, widget_a, ec_key, ec384_key, rsa_key):
    url = keys_url(widget_a)
    for kid, pair in (("a", ec_key), ("b", ec384_key), ("c", rsa_key)):
        assert api_a.post(url, {"public_key": pair.public_pem, "kid": kid})[0] == 201
    api_a.post(f"{url}/a/revoke")
    SigningKey.objects.filter(widget=widget_a, kid="c").update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    status, jwks = api_a.get(f"/api/v1/widgets/{widget_a.public_id}/jwks.json")
    assert status == 200
    assert [(k["kid"], k["alg"], k["use"], k["crv"]) for k in jwks["keys"]] == [("b", "ES384", "sig", "P-384")]
    status, listed = api_a.get(url)
    assert {k["kid"]: k["status"] for k in listed["keys"]} == {"a": "revoked", "b": "active", "c": "expired"}


def test_registration_bumps_the_widget_config_version(api_a, widget_a, ec_key):
    before = Widget.objects.get(pk=widget_a.pk).config_version
    api_a.post(keys_url(widget_a), {"public_key": ec_key.public_pem, "kid": "k"})
    after_add = Widget.objects.get(pk=widget_a.pk).config_version
    api_a.post(f"{keys_url(widget_a)}/k/revoke")
    assert before < after_add < Widget.objects.get(pk=widget_a.pk).config_version


# --- certificates ------------------------------------------------------------------------------


def test_certificate_expiring_soon_warns_and_limits_expires_at(api_a, widget_a, ec_key):
    pem, not_after = certificate_pem(ec_key.private_key, days_left=12)
    status, body = api_a.post(keys_url(widget_a), {"public_key": pem})
    assert status == 201
    assert body["expires_at"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(body["warnings"]) == 1 and "expires on" in body["warnings"][0]


def test_expired_certificate_is_registered_with_a_warning(api_a, widget_a, rsa_key):
    pem, _ = certificate_pem(rsa_key.private_key, days_left=-5)
    status, body = api_a.post(keys_url(widget_a), {"public_key": pem})
    assert status == 201
    assert body["status"] == "active" and body["expires_at"] is None
    assert "expired on" in body["warnings"][0]


def test_later_expires_at_is_clamped_to_the_certificate(api_a, widget_a, ec_key):
    pem, not_after = certificate_pem(ec_key.private_key, days_left=100)
    later = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = api_a.post(keys_url(widget_a), {"public_key": pem, "expires_at": later})
    assert status == 201 and body["expires_at"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "warnings" not in body


# --- refusals: 400, the envelope, nothing stored ---------------------------------------------------


def _refusals(ec_key, rsa_key):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    k1 = ec.generate_private_key(ec.SECP256K1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(ec_key.private_key, hashes.SHA256())
    )
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    return [
        ("EC private PEM", ec_key.private_pem, "private_key_rejected"),
        ("RSA private PEM", rsa_key.private_pem, "private_key_rejected"),
        ("bundle with a private block", ec_key.public_pem + ec_key.private_pem, "private_key_rejected"),
        ("JWK with d", json.loads(jwcrypto_jwk.JWK.from_pyca(ec_key.private_key).export_private()),
         "private_key_rejected"),
        ("RSA 1024", weak.public_key().public_bytes(pem, spki).decode(), "weak_key"),
        ("secp256k1", k1.public_key().public_bytes(pem, spki).decode(), "unsupported_key"),
        ("oct JWK", {"kty": "oct", "k": "c2VjcmV0LWhtYWMta2V5LWZvci10ZXN0cw"}, "unsupported_key"),
        ("Ed25519 JWK", {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
         "unsupported_key"),
        ("CSR", csr.public_bytes(pem).decode(), "invalid_key"),
        ("ssh-rsa", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC user@host", "invalid_key"),
        ("truncated", "\n".join(ec_key.public_pem.split("\n")[:2]), "invalid_key"),
        ("two keys", ec_key.public_pem + rsa_key.public_pem, "invalid_key"),
        ("alg mismatch", public_jwk(ec_key.private_key, alg="ES384"), "invalid_key"),
        ("use enc", public_jwk(rsa_key.private_key, use="enc"), "invalid_key"),
        ("empty text", "   ", "invalid_key"),
        ("garbage", "not a key at all", "invalid_key"),
    ]  # fmt: skip


def test_each_refusal_is_400_with_its_code_and_nothing_is_stored(api_a, widget_a, ec_key, rsa_key):
    url = keys_url(widget_a)
    audit_before = AuditEvent.objects.count()
    for label, value, code in _refusals(ec_key, rsa_key):
        status, body = api_a.post(url, {"public_key": value})
        assert_refusal(status, body, code)
        assert SigningKey.objects.count() == 0, label
    assert AuditEvent.objects.count() == audit_before
    assert api_a.get(url) == (200, {"keys": []})


def test_private_key_refusal_tells_what_to_do_and_never_echoes(api_a, widget_a, ec_key, rsa_key):
    for pair, command in (
        (ec_key, "openssl ec -in ec_private.pem -pubout -out ec_public.pem"),
        (rsa_key, "openssl rsa -in private.pem -outform PEM -pubout -out public.pem"),
    ):
        response = api_a.client.post(
            keys_url(widget_a),
            data=json.dumps({"public_key": pair.private_pem}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}",
        )
        assert response.status_code == 400
        message = response.json()["error"]["message"]
        assert "not saved" in message and "exposed" in message and command in message
        body_lines = [line for line in pair.private_pem.splitlines() if not line.startswith("-----")]
        for line in body_lines:
            assert line.encode() not in response.content
            assert line[:16].encode() not in response.content


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "invalid_request", "public_key"),
        ({"public_key": None}, "invalid_request", "public_key"),
        ({"public_key": 42}, "invalid_request", "public_key"),
        ({"public_key": ["x"]}, "invalid_request", "public_key"),
        ({"public_key": "", "kid": "x"}, "invalid_key", "public_key"),
        ({"public_key": "PEM", "unknown": 1}, "invalid_request", "unknown"),
    ],
)
def test_wrong_body_shapes(api_a, widget_a, body, code, field):
    assert_refusal(*api_a.post(keys_url(widget_a), body), code, field)
    assert SigningKey.objects.count() == 0


def test_expires_at_rules(api_a, widget_a, ec_key, ec_key_2, rsa_key):
    url = keys_url(widget_a)
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert_refusal(*api_a.post(url, {"public_key": ec_key.public_pem, "expires_at": past}), "invalid_request",
                   "expires_at")  # fmt: skip
    assert_refusal(*api_a.post(url, {"public_key": ec_key.public_pem, "expires_at": "next week"}), "invalid_request",
                   "expires_at")  # fmt: skip
    assert SigningKey.objects.count() == 0
    # An offset is converted to UTC; a time without an offset is read as UTC.
    status, body = api_a.post(url, {"public_key": ec_key.public_pem, "expires_at": "2099-01-31T02:00:00+02:00"})
    assert status == 201 and body["expires_at"] == "2099-01-31T00:00:00Z"
    status, body = api_a.post(url, {"public_key": ec_key_2.public_pem, "expires_at": "2099-01-31T00:00:00"})
    assert status == 201 and body["expires_at"] == "2099-01-31T00:00:00Z"


@pytest.mark.parametrize(
    "value",
    ["2099-W01", "20990101T000000Z", "２０９９-01-01T00:00:00Z", "2099-01-01", "2099-02-30T00:00:00Z",
     "2099-01-01T24:00:00Z", "2099-01-01T00:00Z", "2099-01-01T00:00:00+0100", " ", "2099-01-01T00:00:00.1234567Z"],
)  # fmt: skip
def test_expires_at_must_be_an_rfc_3339_date_time(api_a, widget_a, ec_key, value):
    status, body = api_a.post(keys_url(widget_a), {"public_key": ec_key.public_pem, "expires_at": value})
    assert_refusal(status, body, "invalid_request", "expires_at")
    assert "RFC 3339" in body["error"]["message"] or "not a real time" in body["error"]["message"]
    assert SigningKey.objects.count() == 0


@pytest.mark.parametrize(
    "value", ["2099-01-31t02:00:00z", "2099-01-31 02:00:00Z", "2099-01-31T02:00:00.5Z", "2099-01-31T04:00:00+02:00"]
)
def test_expires_at_takes_every_rfc_3339_spelling(api_a, widget_a, ec_key, value):
    status, body = api_a.post(keys_url(widget_a), {"public_key": ec_key.public_pem, "expires_at": value})
    assert status == 201 and body["expires_at"].startswith("2099-01-31T02:00:00")


def test_kid_rules(api_a, widget_a, ec_key, rsa_key):
    url = keys_url(widget_a)
    assert_refusal(*api_a.post(url, {"public_key": ec_key.public_pem, "kid": "has space"}), "invalid_request", "kid")
    bad_jwk_kid = public_jwk(ec_key.private_key, kid="a kid with spaces")
    assert_refusal(*api_a.post(url, {"public_key": bad_jwk_kid}), "invalid_request", "kid")
    # An explicit kid wins over the JWK's own.
    status, body = api_a.post(url, {"public_key": bad_jwk_kid, "kid": "explicit"})
    assert status == 201 and body["kid"] == "explicit"
    assert SigningKey.objects.count() == 1


# --- duplicates -------------------------------------------------------------------------------------


def test_duplicate_key_in_any_format_is_refused(api_a, widget_a, ec_key):
    url = keys_url(widget_a)
    assert api_a.post(url, {"public_key": ec_key.public_pem, "kid": "one"})[0] == 201
    for again in (ec_key.public_pem, public_jwk(ec_key.private_key), certificate_pem(ec_key.private_key, 90)[0]):
        status, body = api_a.post(url, {"public_key": again, "kid": "two"})
        assert_refusal(status, body, "duplicate_key")
        assert "'one'" in body["error"]["message"]
    assert SigningKey.objects.count() == 1


def test_revoked_key_cannot_come_back(api_a, widget_a, ec_key):
    url = keys_url(widget_a)
    api_a.post(url, {"public_key": ec_key.public_pem, "kid": "one"})
    api_a.post(f"{url}/one/revoke")
    status, body = api_a.post(url, {"public_key": ec_key.public_pem})
    assert_refusal(status, body, "duplicate_key")
    assert "revoked" in body["error"]["message"]


def test_kid_clash_with_a_different_key(api_a, widget_a, ec_key, rsa_key):
    url = keys_url(widget_a)
    api_a.post(url, {"public_key": ec_key.public_pem, "kid": "main"})
    assert_refusal(*api_a.post(url, {"public_key": rsa_key.public_pem, "kid": "main"}), "duplicate_key", "kid")
    assert SigningKey.objects.count() == 1


def test_the_same_key_on_two_tenants_widgets_is_fine(api_a, api_b, widget_a, widget_b, ec_key):
    assert api_a.post(keys_url(widget_a), {"public_key": ec_key.public_pem})[0] == 201
    assert api_b.post(keys_url(widget_b), {"public_key": ec_key.public_pem})[0] == 201


def test_lost_race_is_duplicate_key_from_the_constraint(monkeypatch, widget_a, ec_key, rsa_key):
    """The pre-check saw nothing (another request inserted in between): the unique constraint decides."""
    signing_key_register(widget=widget_a, public_key=ec_key.public_pem, kid="first")
    real = services._refuse_clash
    calls = []

    def stale_then_real(**kwargs):
        calls.append(kwargs)
        if len(calls) > 1:  # after the IntegrityError the real check names the clash
            real(**kwargs)

    monkeypatch.setattr(services, "_refuse_clash", stale_then_real)
    with pytest.raises(ServiceError) as info:
        signing_key_register(widget=widget_a, public_key=ec_key.public_pem, kid="second")
    assert (info.value.code, info.value.field) == ("duplicate_key", "public_key")
    assert info.value.__context__ is None  # no IntegrityError (with its SQL detail) chained to the refusal
    calls.clear()
    with pytest.raises(ServiceError) as info:
        signing_key_register(widget=widget_a, public_key=rsa_key.public_pem, kid="first")
    assert (info.value.code, info.value.field) == ("duplicate_key", "kid")
    assert SigningKey.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="true concurrency needs PostgreSQL")
def test_two_concurrent_identical_registrations_give_one_key(monkeypatch, tenant_a, ec_key):
    from widgets.services import widget_create

    widget = widget_create(tenant=tenant_a, name="Race")
    barrier = threading.Barrier(2, timeout=10)
    real = services._refuse_clash
    first_call = threading.local()
    checks = []

    def check_then_wait(**kwargs):
        checks.append(1)
        real(**kwargs)
        if not getattr(first_call, "done", False):
            first_call.done = True
            barrier.wait()  # both requests have passed the pre-check before either inserts

    monkeypatch.setattr(services, "_refuse_clash", check_then_wait)
    outcomes = []

    def register():
        try:
            signing_key_register(widget=Widget.objects.get(pk=widget.pk), public_key=ec_key.public_pem)
            outcomes.append("created")
        except ServiceError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcomes) == ["created", "duplicate_key"]
    assert len(checks) == 3  # two pre-checks that saw nothing, then the loser's IntegrityError path
    assert SigningKey.objects.filter(widget=widget).count() == 1
    assert SigningKey.objects.get(widget=widget).status == KeyStatus.ACTIVE


# --- tenancy ---------------------------------------------------------------------------------------


def test_another_tenants_widget_is_not_found(api_a, api_b, widget_a, ec_key):
    api_a.post(keys_url(widget_a), {"public_key": ec_key.public_pem, "kid": "k"})
    for method, path, body in (
        ("GET", keys_url(widget_a), None),
        ("POST", keys_url(widget_a), {"public_key": ec_key.public_pem}),
        ("POST", f"{keys_url(widget_a)}/k/revoke", None),
        ("GET", f"/api/v1/widgets/{widget_a.public_id}/jwks.json", None),
    ):
        status, payload = api_b.call(method, path, body)
        assert status == 404 and payload["error"]["code"] == "not_found", path
    assert SigningKey.objects.get(widget=widget_a).status == KeyStatus.ACTIVE
    # The same answer as for a widget that does not exist at all.
    assert api_b.get("/api/v1/widgets/w_doesnotexist/keys") == api_b.get(keys_url(widget_a))


def test_unknown_kid_is_not_found(api_a, widget_a):
    status, body = api_a.post(f"{keys_url(widget_a)}/nope/revoke")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_no_api_key_is_unauthenticated(client, widget_a, ec_key):
    response = client.post(keys_url(widget_a), data={"public_key": ec_key.public_pem}, content_type="application/json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
    assert SigningKey.objects.count() == 0
