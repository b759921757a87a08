"""keys/intake.py without a database: every accepted and refused paste.

Keys, certificates and CSRs are made here with `cryptography` (and jwcrypto for
an independent RFC 7638 thumbprint); fingerprints are checked against the
openssl command line the admin would use.
"""

import base64
import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID
from jwcrypto import jwk as jwcrypto_jwk

from keys import intake
from keys.intake import ImportedKey, KeyImportError, import_public_key

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo

EC_COMMAND = "openssl ec -in ec_private.pem -pubout -out ec_public.pem"
RSA_COMMAND = "openssl rsa -in private.pem -outform PEM -pubout -out public.pem"


# --- material -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def p384():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def p521():
    return ec.generate_private_key(ec.SECP521R1())


@pytest.fixture(scope="module")
def rsa3072():
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


@pytest.fixture(scope="module")
def rsa1024():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def spki_pem(private_key) -> str:
    return private_key.public_key().public_bytes(PEM, SPKI).decode()


def spki_der(private_key) -> bytes:
    return private_key.public_key().public_bytes(DER, SPKI)


def pkcs8_pem(private_key, password: bytes | None = None) -> str:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return private_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, enc).decode()


def traditional_pem(private_key) -> str:
    return private_key.private_bytes(
        PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def public_jwk(private_key, **extra) -> dict:
    data = json.loads(jwcrypto_jwk.JWK.from_pyca(private_key.public_key()).export_public())
    data.update(extra)
    return data


def private_jwk(private_key) -> dict:
    return json.loads(jwcrypto_jwk.JWK.from_pyca(private_key).export_private())


def certificate(private_key, *, days_left: float = 365, signer=None, subject_key=None) -> x509.Certificate:
    """A self-signed (or `signer`-signed) certificate for `private_key`'s public key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signet-test.example")])
    now = datetime.now(UTC)
    not_after = now + timedelta(days=days_left)
    not_before = min(now, not_after) - timedelta(days=400)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key((subject_key or private_key).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(signer or private_key, hashes.SHA256())
    )


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(PEM).decode()


def refused(value) -> KeyImportError:
    with pytest.raises(KeyImportError) as info:
        import_public_key(value)
    exc = info.value
    # Library errors are dropped, never chained into the refusal.
    assert exc.__cause__ is None
    assert exc.__suppress_context__ or exc.__context__ is None
    assert exc.code in {"invalid_key", "private_key_rejected", "weak_key", "unsupported_key"}
    assert exc.message and str(exc) == exc.message
    return exc


def body_chunks(pem_text: str, size: int = 16) -> list[str]:
    """Every base64 piece of `size` characters of a PEM body (what must never be echoed)."""
    body = "".join(re.sub(r"-----[A-Z0-9 ]*-----", " ", pem_text).replace("\\n", " ").split())
    return [body[i : i + size] for i in range(0, len(body) - size + 1, 4)]


def assert_no_echo(exc: KeyImportError, pasted: str) -> None:
    text = f"{exc.message} {exc!r} {exc.args!r}"
    for chunk in body_chunks(pasted):
        assert chunk not in text
    for token in re.findall(r"[A-Za-z0-9+/_-]{16,}", pasted):
        assert token not in text


# --- accepted: PEM and its mangled forms --------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "curve", "alg", "bits"),
    [("p256", "P-256", "ES256", 256), ("p384", "P-384", "ES384", 384), ("p521", "P-521", "ES512", 521)],
)
def test_ec_spki_pem_is_accepted_with_its_one_algorithm(request, fixture, curve, alg, bits):
    key = request.getfixturevalue(fixture)
    imported = import_public_key(spki_pem(key))
    assert isinstance(imported, ImportedKey)
    facts = imported.facts
    assert (facts.key_type, facts.curve, facts.bits, facts.algorithms) == ("EC", curve, bits, (alg,))
    assert imported.source_format == "spki"
    assert imported.certificate_not_after is None and imported.warnings == () and imported.kid_hint is None
    assert facts.spki_pem == spki_pem(key)


@pytest.mark.parametrize("fixture", ["rsa2048", "rsa3072"])
def test_rsa_spki_pem_is_accepted_for_rs_algorithms(request, fixture):
    key = request.getfixturevalue(fixture)
    facts = import_public_key(spki_pem(key)).facts
    assert (facts.key_type, facts.curve, facts.bits) == ("RSA", None, key.key_size)
    assert facts.algorithms == ("RS256", "RS384", "RS512")


def test_pkcs1_rsa_public_key_is_accepted(rsa2048):
    pem = rsa2048.public_key().public_bytes(PEM, serialization.PublicFormat.PKCS1).decode()
    assert pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
    imported = import_public_key(pem)
    assert imported.source_format == "pkcs1"
    assert imported.facts.spki_pem == spki_pem(rsa2048)


def mangled_forms(pem: str) -> dict[str, str]:
    lines = pem.strip().split("\n")
    return {
        "as is": pem,
        "crlf": pem.replace("\n", "\r\n"),
        "cr only": pem.replace("\n", "\r"),
        "blank lines and spaces around": "\n\n   \t" + pem + "\n\n  \n",
        "indented lines": "\n".join("    " + line for line in lines),
        "one line, spaces": " ".join(lines),
        "one line, no spaces": "".join(lines),
        "literal \\n": pem.replace("\n", "\\n"),
        "literal \\r\\n": pem.replace("\n", "\\r\\n"),
        "double-escaped \\\\n": pem.replace("\n", "\\\\n"),
        "no final newline": pem.rstrip("\n"),
        "JSON-quoted string": json.dumps(pem),
        "JSON-quoted with escaped slashes": json.dumps(pem).replace("/", "\\/"),
        "explanatory text around": "Here is our key:\n" + pem + "\nThanks!",
        "BOM, zero-width and no-break spaces": "\ufeff" + pem.replace("\n", "\u00a0\n", 2) + "\u200b",
        "unwrapped base64 line": lines[0] + "\n" + "".join(lines[1:-1]) + "\n" + lines[-1],
    }


@pytest.mark.parametrize(
    "form",
    list(mangled_forms("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n")),
)
@pytest.mark.parametrize("fixture", ["p256", "rsa2048"])
def test_mangled_pem_is_accepted(request, fixture, form):
    key = request.getfixturevalue(fixture)
    expected = import_public_key(spki_pem(key)).facts
    assert import_public_key(mangled_forms(spki_pem(key))[form]).facts == expected


def test_mangled_pkcs1_and_certificate_are_accepted(rsa2048, p256):
    pkcs1 = rsa2048.public_key().public_bytes(PEM, serialization.PublicFormat.PKCS1).decode()
    for text in mangled_forms(pkcs1).values():
        assert import_public_key(text).source_format == "pkcs1"
    cert = cert_pem(certificate(p256))
    for text in mangled_forms(cert).values():
        assert import_public_key(text).source_format == "certificate"


def test_bare_base64_der_without_armour_is_accepted(p256, rsa2048):
    for key in (p256, rsa2048):
        b64 = base64.b64encode(spki_der(key)).decode()
        imported = import_public_key(b64)
        assert imported.source_format == "spki"
        assert imported.facts.spki_pem == spki_pem(key)
    wrapped = base64.encodebytes(certificate(p256).public_bytes(DER)).decode()
    assert import_public_key(wrapped).source_format == "certificate"


def test_ec_parameters_next_to_the_key_are_ignored(p256):
    params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    assert import_public_key(params + spki_pem(p256)).facts.curve == "P-256"
    assert "only EC PARAMETERS" in refused(params).message


def test_the_same_key_twice_is_one_key(p256):
    # A certificate pasted with its own public key: one key, described from the certificate.
    cert = certificate(p256)
    imported = import_public_key(spki_pem(p256) + cert_pem(cert))
    assert imported.source_format == "certificate"
    assert imported.certificate_not_after == cert.not_valid_after_utc
    assert import_public_key(spki_pem(p256) * 2).source_format == "spki"


def test_compressed_ec_point_is_accepted_and_normalised(p256):
    point = p256.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    # SPKI with the compressed point: same AlgorithmIdentifier as the uncompressed DER, new BIT STRING.
    algo = spki_der(p256)[2:23]  # AlgorithmIdentifier(id-ecPublicKey, P-256) after the outer SEQUENCE header
    bit_string = b"\x03" + bytes([len(point) + 1]) + b"\x00" + point
    inner = algo + bit_string
    der = b"\x30" + bytes([len(inner)]) + inner
    imported = import_public_key(base64.b64encode(der).decode())
    assert imported.facts.spki_pem == spki_pem(p256)
    # The fingerprint is that of the uncompressed form, and the warning gives the command that shows it.
    (warning,) = imported.warnings
    assert "compressed EC point" in warning and "-ec_conv_form uncompressed" in warning


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line")
def test_explicit_curve_parameters_are_accepted_as_the_named_curve(tmp_path):
    # openssl writes explicit parameters on request; Signet stores the named curve and says so.
    key_path, pub_path = tmp_path / "k.pem", tmp_path / "pub.pem"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key_path)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["openssl", "ec", "-in", str(key_path), "-pubout", "-param_enc", "explicit", "-out", str(pub_path)],
        check=True,
        capture_output=True,
    )
    imported = import_public_key(pub_path.read_text())
    assert imported.facts.curve == "P-256"
    (warning,) = imported.warnings
    assert "-param_enc named_curve" in warning
    named = subprocess.run(
        ["openssl", "ec", "-pubin", "-in", str(pub_path), "-param_enc", "named_curve", "-pubout"],
        check=True,
        capture_output=True,
    ).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=named, capture_output=True).stdout
    sha = subprocess.run(["sha256sum"], input=der, capture_output=True, check=True).stdout.split()[0].decode()
    assert imported.facts.fingerprint_sha256 == sha


# --- accepted: certificates -----------------------------------------------------------------


def test_certificate_gives_its_key_and_not_after(p256):
    cert = certificate(p256, days_left=365)
    imported = import_public_key(cert_pem(cert))
    assert imported.source_format == "certificate"
    assert imported.facts.spki_pem == spki_pem(p256)
    assert imported.certificate_not_after == cert.not_valid_after_utc
    assert imported.warnings == ()


def test_certificate_signed_by_another_key_gives_the_subject_key(p256, rsa2048):
    cert = certificate(p256, signer=rsa2048)
    assert import_public_key(cert_pem(cert)).facts.key_type == "EC"


def test_certificate_expiring_within_30_days_warns(p256):
    cert = certificate(p256, days_left=10.5)
    imported = import_public_key(cert_pem(cert))
    assert len(imported.warnings) == 1
    assert "expires on" in imported.warnings[0] and "in 10 days" in imported.warnings[0]


def test_expired_certificate_is_accepted_with_a_warning(p256):
    cert = certificate(p256, days_left=-3)
    imported = import_public_key(cert_pem(cert))
    assert imported.certificate_not_after == cert.not_valid_after_utc
    assert len(imported.warnings) == 1 and "expired on" in imported.warnings[0]


def test_certificate_with_weak_or_unsupported_key_is_refused(rsa1024, p256):
    assert refused(cert_pem(certificate(rsa1024))).code == "weak_key"
    ed = ed25519.Ed25519PrivateKey.generate()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed")]))
        .public_key(ed.public_key())
        .serial_number(1)
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=100))
        .sign(p256, hashes.SHA256())
    )
    exc = refused(cert_pem(cert))
    assert exc.code == "unsupported_key" and "Ed25519" in exc.message


# --- accepted: JWK ----------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["p256", "p384", "p521", "rsa2048"])
def test_jwk_object_and_json_text_are_accepted(request, fixture):
    key = request.getfixturevalue(fixture)
    jwk = public_jwk(key)
    from_object = import_public_key(jwk)
    from_text = import_public_key(json.dumps(jwk, indent=2))
    from_jwks = import_public_key(json.dumps({"keys": [jwk]}))
    assert from_object.source_format == from_text.source_format == from_jwks.source_format == "jwk"
    assert from_object.facts == from_text.facts == from_jwks.facts
    assert from_object.facts.spki_pem == spki_pem(key)


def test_jwk_kid_becomes_kid_hint_and_public_metadata_is_accepted(p256):
    jwk = public_jwk(p256, kid="site-2026", use="sig", alg="ES256", key_ops=["verify"])
    imported = import_public_key(jwk)
    assert imported.kid_hint == "site-2026"
    assert imported.facts.algorithms == ("ES256",)


def test_jwk_alg_of_an_rsa_key_comes_first(rsa2048):
    imported = import_public_key(public_jwk(rsa2048, alg="RS512"))
    assert imported.facts.algorithms == ("RS512", "RS256", "RS384")


def test_jwk_with_padding_in_base64url_is_tolerated(p256):
    jwk = public_jwk(p256)
    jwk["x"] += "=" * (-len(jwk["x"]) % 4)
    assert import_public_key(jwk).facts.spki_pem == spki_pem(p256)


# --- what is shown: fingerprint and thumbprint ------------------------------------------------


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line")
@pytest.mark.parametrize("fixture", ["p256", "p384", "p521", "rsa2048"])
def test_fingerprint_equals_openssl_pkey_der_sha256sum(request, fixture, tmp_path):
    key = request.getfixturevalue(fixture)
    path = tmp_path / "public.pem"
    path.write_text(spki_pem(key))
    # The admin's command: openssl pkey -pubin -in public.pem -outform DER | sha256sum
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(path), "-outform", "DER"], capture_output=True, check=True
    ).stdout
    fingerprint = subprocess.run(["sha256sum"], input=der, capture_output=True, check=True).stdout.split()[0].decode()
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    for value in (spki_pem(key), public_jwk(key), cert_pem(certificate(key))):
        assert import_public_key(value).facts.fingerprint_sha256 == fingerprint


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line")
def test_fingerprint_of_a_certificate_equals_openssl_on_its_pubkey(rsa2048, tmp_path):
    path = tmp_path / "cert.pem"
    path.write_text(cert_pem(certificate(rsa2048)))
    pubkey = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-pubkey", "-noout"], capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"], input=pubkey, capture_output=True, check=True
    ).stdout
    sha = subprocess.run(["sha256sum"], input=der, capture_output=True, check=True).stdout.split()[0].decode()
    assert import_public_key(path.read_text()).facts.fingerprint_sha256 == sha


@pytest.mark.parametrize("fixture", ["p256", "p384", "p521", "rsa2048"])
def test_jwk_thumbprint_is_rfc7638_as_computed_by_jwcrypto(request, fixture):
    key = request.getfixturevalue(fixture)
    expected = jwcrypto_jwk.JWK.from_pyca(key.public_key()).thumbprint()
    assert import_public_key(spki_pem(key)).facts.jwk_thumbprint == expected


def test_jwk_thumbprint_of_the_rfc7638_example():
    # RFC 7638 section 3.1: the RSA key of RFC 7517 appendix A.1 and its published thumbprint.
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
        "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqb"
        "w0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    imported = import_public_key(jwk)
    assert imported.facts.jwk_thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    assert imported.kid_hint == "2011-04-29"


# --- refused: private key material --------------------------------------------------------------


def private_forms(ec_key, rsa_key):
    """(label, pasted text or object, expected type in the message: "EC" | "RSA" | None)."""
    ec_pkcs8, rsa_pkcs8 = pkcs8_pem(ec_key), pkcs8_pem(rsa_key)
    ec_sec1, rsa_pkcs1 = traditional_pem(ec_key), traditional_pem(rsa_key)
    openssh = ec_key.private_bytes(PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()

    def bare(pem):
        return "".join(pem.strip().splitlines()[1:-1])

    def armour(label, body):
        return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"

    ec_der = ec_key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return [
        ("PKCS#8 EC", ec_pkcs8, "EC"),
        ("PKCS#8 RSA", rsa_pkcs8, "RSA"),
        ("SEC1 EC PRIVATE KEY", ec_sec1, "EC"),
        ("PKCS#1 RSA PRIVATE KEY", rsa_pkcs1, "RSA"),
        ("ENCRYPTED PRIVATE KEY", pkcs8_pem(ec_key, b"correct horse"), None),
        ("OPENSSH PRIVATE KEY", openssh, None),
        (
            "PGP private block",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQVYBGVhbXBsZWtleWRhdGFub3RyZWFsbHlhcGdwa2V5\n=abcd\n"
            "-----END PGP PRIVATE KEY BLOCK-----\n",
            None,
        ),
        (
            "PuTTY key file",
            "PuTTY-User-Key-File-3: ecdsa-sha2-nistp256\nEncryption: none\nComment: x\nPublic-Lines: 1\n"
            "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=\n"
            "Private-Lines: 1\nAAAAIQC3bXlzZWNyZXRzY2FsYXJ2YWx1ZQ==\n",
            None,
        ),
        ("bundle: public then private", spki_pem(ec_key) + ec_pkcs8, "EC"),
        ("bundle: certificate then private", cert_pem(certificate(rsa_key)) + rsa_pkcs1, "RSA"),
        ("PKCS#8 on one line", " ".join(ec_pkcs8.strip().splitlines()), "EC"),
        ("PKCS#8 with literal \\n", rsa_pkcs8.replace("\n", "\\n"), "RSA"),
        ("PKCS#8 JSON-quoted", json.dumps(ec_pkcs8), "EC"),
        ("bare base64 PKCS#8 EC", bare(ec_pkcs8), "EC"),
        ("bare base64 PKCS#8 RSA", bare(rsa_pkcs8), "RSA"),
        ("bare base64 SEC1", bare(ec_sec1), "EC"),
        ("bare base64 PKCS#1 private", bare(rsa_pkcs1), "RSA"),
        ("bare base64 encrypted PKCS#8", bare(pkcs8_pem(rsa_key, b"pw")), None),
        ("private DER, PUBLIC KEY label", armour("PUBLIC KEY", bare(ec_pkcs8)), "EC"),
        ("wrapped base64 PKCS#8 DER", base64.encodebytes(ec_der).decode(), "EC"),
        ("EC JWK with d", private_jwk(ec_key), "EC"),
        ("RSA JWK with d p q dp dq qi", private_jwk(rsa_key), "RSA"),
        ("EC JWK with d as JSON text", json.dumps(private_jwk(ec_key)), "EC"),
        ("JWKS holding a private JWK", {"keys": [public_jwk(rsa_key), private_jwk(ec_key)]}, "EC"),
        ("JWKS text holding a private JWK", json.dumps({"keys": [private_jwk(rsa_key)]}), "RSA"),
        ("JSON list holding a private JWK", json.dumps([private_jwk(ec_key)]), None),
        ("truncated private JWK text", json.dumps(private_jwk(ec_key))[:-5], None),
        ("OKP JWK with d", {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                            "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}, None),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def private_cases(p256, rsa2048):
    return private_forms(p256, rsa2048)


def test_every_private_form_is_refused_with_the_right_command(private_cases):
    assert len(private_cases) >= 25
    for label, value, kind in private_cases:
        exc = refused(value)
        assert exc.code == "private_key_rejected", label
        message = exc.message
        assert "not saved" in message and "exposed" in message, label
        if kind == "EC":
            assert EC_COMMAND in message and "EC private key" in message, label
            assert RSA_COMMAND not in message, label
        elif kind == "RSA":
            assert RSA_COMMAND in message and "RSA private key" in message, label
            assert EC_COMMAND not in message, label
        text = value if isinstance(value, str) else json.dumps(value)
        assert_no_echo(exc, text)


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth"])
def test_any_private_jwk_member_is_refused(rsa2048, member):
    jwk = public_jwk(rsa2048)
    jwk[member] = "AQAB"
    exc = refused(jwk)
    assert exc.code == "private_key_rejected"
    assert RSA_COMMAND in exc.message and "kty, n, e" in exc.message


def test_private_refusal_wins_over_every_other_problem(p256, rsa1024):
    # A weak key, an unsupported key or junk next to a private block: the private block decides.
    weak = spki_pem(rsa1024)
    for text in (weak + pkcs8_pem(p256), "ssh-rsa AAAA\n" + pkcs8_pem(p256), pkcs8_pem(p256)[:200]):
        assert refused(text).code == "private_key_rejected"


# --- refused: weak and unsupported keys ------------------------------------------------------------


def test_rsa_under_2048_bits_is_weak(rsa1024):
    pkcs1 = rsa1024.public_key().public_bytes(PEM, serialization.PublicFormat.PKCS1).decode()
    for value in (spki_pem(rsa1024), public_jwk(rsa1024), pkcs1):
        exc = refused(value)
        assert exc.code == "weak_key" and "1024 bits" in exc.message and "2048" in exc.message


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: ec.generate_private_key(ec.SECP256K1()), "secp256k1"),
        (lambda: ec.generate_private_key(ec.BrainpoolP256R1()), "brainpoolP256r1"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "Ed25519"),
        (lambda: x25519.X25519PrivateKey.generate(), "X25519"),
        (lambda: dsa.generate_private_key(2048), "DSA"),
    ],
)
def test_other_key_types_are_unsupported_and_named(make, named):
    exc = refused(spki_pem(make()))
    assert exc.code == "unsupported_key"
    assert named in exc.message and "P-256" in exc.message


def test_unsupported_jwks_are_named():
    secp256k1 = ec.generate_private_key(ec.SECP256K1())
    exc = refused(public_jwk(secp256k1))
    assert exc.code == "unsupported_key" and "secp256k1" in exc.message
    okp = json.loads(jwcrypto_jwk.JWK.from_pyca(ed25519.Ed25519PrivateKey.generate().public_key()).export_public())
    exc = refused(okp)
    assert exc.code == "unsupported_key" and "Ed25519" in exc.message
    exc = refused({"kty": "oct", "k": "c2VjcmV0LXNoYXJlZC1obWFjLWtleS0xMjM0NTY3OA"})
    assert exc.code == "unsupported_key" and "oct" in exc.message and "exposed" in exc.message
    assert "c2VjcmV0" not in exc.message
    assert refused({"kty": "oct"}).code == "unsupported_key"
    assert refused({"kty": "XYZ", "x": "AA"}).code == "unsupported_key"
    assert refused({"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"}).code == "unsupported_key"


def test_rsa_pss_only_key_and_ps_algorithm_are_unsupported(rsa2048):
    assert refused(public_jwk(rsa2048, alg="PS256")).code == "unsupported_key"
    # An RSASSA-PSS SubjectPublicKeyInfo: same key, AlgorithmIdentifier id-RSASSA-PSS.
    der = spki_der(rsa2048)
    pss = der.replace(bytes.fromhex("2a864886f70d010101"), bytes.fromhex("2a864886f70d01010a"), 1)
    exc = refused(base64.b64encode(pss).decode())
    assert exc.code == "unsupported_key" and "RSA-PSS" in exc.message


def test_rsa_over_8192_bits_is_unsupported():
    # Numbers only (generating such a key is slow): any odd n of 8200 bits with e=65537.
    n = (1 << 8199) | 1 | (0xABCDEF << 100)
    jwk = {"kty": "RSA", "n": base64.urlsafe_b64encode(n.to_bytes(1025, "big")).decode().rstrip("="), "e": "AQAB"}
    assert refused(jwk).code == "unsupported_key"


# --- refused: everything else, with a hint -------------------------------------------------------------


def test_certificate_request_is_refused_with_a_hint(p256):
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(p256, hashes.SHA256())
    )
    pem = csr.public_bytes(PEM).decode()
    for text in (pem, "".join(pem.strip().splitlines()[1:-1])):
        exc = refused(text)
        assert exc.code == "invalid_key"
        assert "certificate request (CSR)" in exc.message and "paste the certificate or the public key" in exc.message


def test_ssh_public_keys_are_refused_with_the_conversion_command(p256, rsa2048):
    for key in (p256, rsa2048):
        line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        exc = refused(line.decode() + " admin@laptop")
        assert exc.code == "invalid_key"
        assert "OpenSSH" in exc.message and "ssh-keygen -e -m PKCS8 -f key.pub" in exc.message
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    line = ed.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    exc = refused(line)
    assert exc.code == "unsupported_key" and "Ed25519" in exc.message
    rfc4716 = "---- BEGIN SSH2 PUBLIC KEY ----\nComment: x\nAAAAB3NzaC1yc2E=\n---- END SSH2 PUBLIC KEY ----\n"
    assert "ssh-keygen" in refused(rfc4716).message


def test_truncated_pem_is_refused_with_a_hint(p256, rsa2048):
    pem = spki_pem(rsa2048)
    lines = pem.strip().split("\n")
    no_end = "\n".join(lines[:-1])
    exc = refused(no_end)
    assert exc.code == "invalid_key" and "cut off" in exc.message and "-----END PUBLIC KEY-----" in exc.message
    # A whole line lost: the base64 still decodes, but the DER ends early.
    missing_line = "\n".join(lines[:2] + lines[3:])
    exc = refused(missing_line)
    assert exc.code == "invalid_key" and "truncated" in exc.message
    # Cut mid-line: the base64 itself does not add up.
    cut = "\n".join([*lines[:-2], lines[-2][:-3], lines[-1]])
    exc = refused(cut)
    assert exc.code == "invalid_key" and "truncated" in exc.message
    # Bare base64 cut short.
    assert "truncated" in refused(base64.b64encode(spki_der(p256)[:-10]).decode()).message


def test_damaged_pem_is_refused(p256):
    pem = spki_pem(p256)
    exc = refused(pem.replace("M", "M#", 1))
    assert exc.code == "invalid_key" and "not base64" in exc.message
    assert refused("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----").message.endswith("again.")
    exc = refused(pem.replace("END PUBLIC KEY", "END CERTIFICATE"))
    assert "do not match" in exc.message
    der = spki_der(p256) + b"\x00\x00"
    assert "extra data" in refused(base64.b64encode(der).decode()).message
    assert refused("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----").code == "invalid_key"
    assert refused("-----BEGIN FOO BAR-----\nAAAA\n-----END FOO BAR-----").code == "invalid_key"


def test_ec_point_not_on_the_curve_is_invalid(p256):
    der = bytearray(spki_der(p256))
    der[-1] ^= 0x01  # last byte of y
    exc = refused(base64.b64encode(bytes(der)).decode())
    assert exc.code == "invalid_key" and "not on its curve" in exc.message
    jwk = public_jwk(p256)
    y = bytearray(base64.urlsafe_b64decode(jwk["y"] + "=="))
    y[-1] ^= 0x01
    jwk["y"] = base64.urlsafe_b64encode(bytes(y)).decode().rstrip("=")
    exc = refused(jwk)
    assert exc.code == "invalid_key" and "not on the curve P-256" in exc.message


def test_several_different_keys_are_refused_one_at_a_time(p256, p384, rsa2048):
    exc = refused(spki_pem(p256) + spki_pem(rsa2048))
    assert exc.code == "invalid_key" and "one key at a time" in exc.message
    chain = cert_pem(certificate(p256, signer=p384)) + cert_pem(certificate(p384))
    exc = refused(chain)
    assert "certificate chain" in exc.message and "one key at a time" in exc.message
    exc = refused({"keys": [public_jwk(p256), public_jwk(rsa2048)]})
    assert exc.code == "invalid_key" and "2 keys" in exc.message and "one key at a time" in exc.message
    assert "empty" in refused({"keys": []}).message
    assert "JSON list" in refused(json.dumps([public_jwk(p256)])).message


@pytest.mark.parametrize(
    ("fixture", "changes", "expected"),
    [
        ("p256", {"alg": "ES384"}, "does not fit a P-256 key"),
        ("p384", {"alg": "ES256"}, "does not fit a P-384 key"),
        ("p256", {"alg": "RS256"}, "does not fit a P-256 key"),
        ("rsa2048", {"alg": "ES256"}, "does not fit an RSA key"),
        ("rsa2048", {"alg": "HS256"}, "does not fit an RSA key"),
        ("p256", {"alg": "ES224"}, 'This JWK\'s "alg" does not fit a P-256 key'),
        ("p256", {"use": "enc"}, '"use": "enc"'),
        ("rsa2048", {"use": "wrap"}, '"use" other than "sig"'),
        ("p256", {"key_ops": ["encrypt"]}, '"key_ops" does not include "verify"'),
        ("p256", {"key_ops": "verify"}, '"key_ops" does not include "verify"'),
        ("p256", {"crv": "P-384"}, "on P-384 it must be 48"),
        ("p256", {"kty": None}, '"kty" member'),
        ("p256", {"crv": None}, 'no "crv"'),
        ("p256", {"crv": ["P-256"]}, '"crv" must be a string'),
        ("p256", {"x": None}, 'lacks its "x"'),
        ("p256", {"x": "not base64url!"}, "not valid base64url"),
        ("p256", {"kid": 7}, '"kid" must be a non-empty string'),
        ("rsa2048", {"e": "AQ"}, "exponent e is not valid"),
        ("rsa2048", {"e": "BA"}, "exponent e is not valid"),
        ("rsa2048", {"n": None}, 'lacks its "n"'),
    ],
)
def test_bad_jwks_are_refused_with_a_reason(request, fixture, changes, expected):
    jwk = public_jwk(request.getfixturevalue(fixture))
    for name, value in changes.items():
        if value is None:
            jwk.pop(name, None)
        else:
            jwk[name] = value
    exc = refused(jwk)
    assert exc.code == "invalid_key"
    assert expected in exc.message


def test_jwk_json_problems_are_refused(p256):
    text = json.dumps(public_jwk(p256))
    assert "not valid JSON (line 1" in refused(text[:-1]).message
    assert "same member twice" in refused(text[:-1] + ', "x": "AAAA"}').message
    assert refused('"just a string"').code == "invalid_key"
    assert refused("42").code == "invalid_key"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "Nothing was pasted"),
        ("   \n\t ", "Nothing was pasted"),
        (None, "as text or as a JWK object"),
        (12345, "as text or as a JWK object"),
        (["-----BEGIN PUBLIC KEY-----"], "as text or as a JWK object"),
        ("hello, this is my key", "not a public key Signet can read"),
        ("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "signed token (JWS/JWT)"),
        ("-----BEGIN PUBLIC KEY", "No PEM block"),
    ],
)
def test_other_junk_is_invalid_with_a_hint(value, expected):
    exc = refused(value)
    assert exc.code == "invalid_key" and expected in exc.message


def test_oversized_input_is_refused_without_echo():
    exc = refused("A" * (intake.MAX_INPUT_CHARS + 1))
    assert exc.code == "invalid_key" and "limit" in exc.message


@pytest.mark.parametrize(
    "hostile",
    [
        "-" * intake.MAX_INPUT_CHARS,
        "-----BEGIN " * (intake.MAX_INPUT_CHARS // 11),
        "-----BEGIN PUBLIC KEY-----" + " " * (intake.MAX_INPUT_CHARS - 60) + "-----END",
        "-----BEGIN " + "A " * (intake.MAX_INPUT_CHARS // 2 - 10),
        "{" * intake.MAX_INPUT_CHARS,
        "[" * intake.MAX_INPUT_CHARS,
        '{"d"' + " " * (intake.MAX_INPUT_CHARS - 10),
        "PRIVATE" + " " * (intake.MAX_INPUT_CHARS - 10),
        "eyJ" + "a" * (intake.MAX_INPUT_CHARS - 10) + "!",
        "ssh-rsa" + "\t" * (intake.MAX_INPUT_CHARS - 10),
        "\\n" * (intake.MAX_INPUT_CHARS // 2),
        "A" * (intake.MAX_INPUT_CHARS - 1) + "!",
    ],
)
def test_hostile_input_of_the_maximum_size_is_answered_fast(hostile):
    assert len(hostile) <= intake.MAX_INPUT_CHARS
    start = time.perf_counter()
    with pytest.raises(KeyImportError):
        import_public_key(hostile)
    assert time.perf_counter() - start < 0.5


def test_unexpected_failures_become_invalid_key_without_a_chain(monkeypatch, p256):
    def boom(*args, **kwargs):
        raise RuntimeError("library detail that must not leak")

    monkeypatch.setattr(intake.jose, "describe_public_key", boom)
    exc = refused(spki_pem(p256))
    assert exc.code == "invalid_key" and "library detail" not in exc.message
