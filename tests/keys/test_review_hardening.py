"""Fixes from the security review of key handling (keys/jose.py, keys/intake.py). No database.

1. The RSA public exponent is bounded: odd, 3 <= e < 2**32, for every way a
   public key comes in (SPKI, PKCS#1, certificate, JWK), for a pasted private
   key in the playground, and for a key stored before the bound existed.
2. sign_compact refuses a payload it cannot sign as JSON (a lone surrogate,
   a number too large for a float) with its own SigningInputError, and nothing
   it raises or leaves in a Django error report carries the private key.
3. Private material outside the PEM blocks of a paste, or unarmoured DER of a
   private key with trailing bytes or cut short, is private_key_rejected and
   never echoed; `intake.holds_private_key` says whether a text holds any.
"""

import base64
import hashlib
import json
import math
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.views.debug import ExceptionReporter

from keys import intake, jose
from keys.intake import import_public_key
from tests.keys.test_intake import (
    assert_no_echo,
    body_chunks,
    cert_pem,
    certificate,
    mangled_forms,
    pkcs8_pem,
    private_forms,
    private_jwk,
    public_jwk,
    refused,
    spki_pem,
    traditional_pem,
)

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
PKCS1 = serialization.PublicFormat.PKCS1
PKCS8 = serialization.PrivateFormat.PKCS8
NO_ENCRYPTION = serialization.NoEncryption()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


# --- 1. the RSA public exponent ------------------------------------------------------------


def rsa_with_exponent(private_key: rsa.RSAPrivateKey, e: int) -> rsa.RSAPrivateKey:
    """The same primes with another public exponent (the next one coprime to phi from `e` up)."""
    numbers = private_key.private_numbers()
    p, q = numbers.p, numbers.q
    phi = (p - 1) * (q - 1)
    while math.gcd(e, phi) != 1:
        e += 2
    d = pow(e, -1, phi)
    return rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, p * q),
    ).private_key()


def public_with_exponent(private_key: rsa.RSAPrivateKey, e: int) -> rsa.RSAPublicKey:
    """The modulus of `private_key` with any public exponent (no private half needed)."""
    return rsa.RSAPublicNumbers(e, private_key.public_key().public_numbers().n).public_key()


def every_public_form(public_key, signer) -> dict:
    """The ways a public key reaches intake: SPKI PEM, PKCS#1 PEM, bare DER, certificate, JWK."""
    numbers = public_key.public_numbers()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signet-review.example")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2035, 1, 1, tzinfo=UTC))
        .sign(signer, hashes.SHA256())
    )
    jwk = {"kty": "RSA", "n": b64url_int(numbers.n), "e": b64url_int(numbers.e)}
    return {
        "SPKI PEM": public_key.public_bytes(PEM, SPKI).decode(),
        "PKCS#1 PEM": public_key.public_bytes(PEM, PKCS1).decode(),
        "bare base64 SPKI DER": base64.b64encode(public_key.public_bytes(DER, SPKI)).decode(),
        "certificate": cert.public_bytes(PEM).decode(),
        "JWK object": jwk,
        "JWK text": json.dumps(jwk),
    }


def huge_exponents(n: int) -> dict[str, int]:
    return {"2**32 + 1": 2**32 + 1, "2**64 + 1": 2**64 + 1, "n - 2": n - 2}


def test_rsa_exponent_of_2_32_or_more_is_refused_in_every_format(rsa2048, p256):
    n = rsa2048.public_key().public_numbers().n
    for label, e in huge_exponents(n).items():
        for form, value in every_public_form(public_with_exponent(rsa2048, e), p256).items():
            exc = refused(value)
            # The code of the e = 1 and even-e refusals: the numbers do not make a key Signet can use.
            assert exc.code == "invalid_key", (label, form)
            assert "exponent e is not valid" in exc.message and "2^32" in exc.message, (label, form)
            assert "65537" in exc.message, (label, form)


def test_rsa_exponents_in_use_are_still_accepted(rsa2048, p256):
    # 3 and 65537 are what key generators make; 2**32 - 1 is the largest odd e below the bound.
    for e in (3, 65537, 2**31 - 1, 2**32 - 1):
        public_key = public_with_exponent(rsa2048, e)
        for form, value in every_public_form(public_key, p256).items():
            assert import_public_key(value).facts.jwk["e"] == b64url_int(e), (e, form)


def test_rsa_exponent_bound_is_in_the_shared_checks(rsa2048):
    n = rsa2048.public_key().public_numbers().n
    with pytest.raises(jose.KeyDataError, match="exponent e is not valid"):
        jose.vet_rsa_numbers(n, 2**32)
    for e in (2**32 + 1, 2**33 + 1, n - 2):
        with pytest.raises(jose.KeyDataError, match="exponent e is not valid"):
            jose.vet_rsa_numbers(n, e)
        with pytest.raises(jose.KeyDataError, match="exponent e is not valid"):
            jose.vet_public_key(public_with_exponent(rsa2048, e))
        with pytest.raises(jose.KeyDataError, match="exponent e is not valid"):
            jose.rsa_public_key(n, e)
    jose.vet_rsa_numbers(n, 2**32 - 1)
    # The small and even refusals keep their message.
    for e in (1, 4, 2**32 + 2):
        with pytest.raises(jose.KeyDataError, match="exponent e is not valid"):
            jose.vet_rsa_numbers(n, e)


def test_playground_refuses_a_private_key_with_a_huge_exponent(rsa2048):
    big = rsa_with_exponent(rsa2048, 2**32 + 1)
    text = big.private_bytes(PEM, PKCS8, NO_ENCRYPTION).decode()
    with pytest.raises(jose.SigningInputError, match="exponent e is not valid") as caught:
        jose.sign_compact("{}", text, kid=None, alg=None)
    assert caught.value.field == "private_key"
    for chunk in body_chunks(text):
        assert chunk not in str(caught.value)


def test_a_stored_key_with_a_huge_exponent_verifies_nothing(rsa2048):
    """A key registered before the bound: no signature check is spent on it (it never verifies)."""
    big = rsa_with_exponent(rsa2048, 2**32 + 1)
    message = b"header.payload"
    signature = big.sign(message, padding.PKCS1v15(), hashes.SHA256())
    verifier = jose.VerifierKey(big.public_key().public_bytes(PEM, SPKI).decode())
    assert verifier.facts.key_type == "RSA" and verifier.algorithms == jose.RSA_ALGORITHMS
    assert verifier.verify_signature("RS256", message, signature) is False
    # The same check with e = 65537 does verify: the refusal above is the exponent's.
    normal = jose.VerifierKey(spki_pem(rsa2048))
    good = rsa2048.sign(message, padding.PKCS1v15(), hashes.SHA256())
    assert normal.verify_signature("RS256", message, good) is True


def test_platform_rsa_keys_have_the_usual_exponent():
    key = jose.generate_platform_rsa_key()
    assert key.public_key().public_numbers().e == 65537
    jose.vet_public_key(key.public_key())


# --- 2. signing: payloads that are not JSON text, and no key in any error ------------------


@pytest.mark.parametrize(
    "payload",
    [
        '{"sub": "\\ud800"}',  # a lone high surrogate, as json.loads reads it
        '{"sub": "a\\udfffb"}',  # a lone low surrogate
        '{"\\udc00": 1}',  # in a member name
        '[{"label": "x", "data": ["\\ud83d"], "type": "json"}]',  # half an emoji, nested
    ],
)
def test_a_lone_surrogate_is_refused_as_a_payload_problem(p256, payload):
    with pytest.raises(jose.SigningInputError) as caught:
        jose.sign_compact(payload, pkcs8_pem(p256), kid=None, alg=None)
    assert caught.value.field == "payload"
    assert "surrogate" in caught.value.message
    # A whole pair is one character and signs.
    assert jose.sign_compact('{"sub": "\\ud83d\\ude00"}', pkcs8_pem(p256), kid=None, alg=None).payload_text == (
        '{"sub":"\U0001f600"}'
    )


@pytest.mark.parametrize(
    ("payload", "number"),
    [
        ('{"exp": 1e400}', "1e400"),
        ('{"exp": -1e400}', "-1e400"),
        ('[{"label": "n", "data": 2.5E+999, "type": "number"}]', "2.5E+999"),
        ('{"a": {"b": [1, 1e309]}}', "1e309"),
    ],
)
def test_a_number_too_large_for_a_float_is_refused(p256, payload, number):
    with pytest.raises(jose.SigningInputError) as caught:
        jose.sign_compact(payload, pkcs8_pem(p256), kid=None, alg=None)
    assert caught.value.field == "payload"
    assert f"{number} is not a finite number" in caught.value.message
    # Large but finite numbers still sign, exactly as written by json.
    signed = jose.sign_compact('{"exp": 1e308, "iat": 1.5}', pkcs8_pem(p256), kid=None, alg=None)
    assert signed.payload_text == '{"exp":1e+308,"iat":1.5}'


def damaged_keys(p256, rsa2048) -> dict[str, str]:
    """Private keys that get as far as the parser or the signer and fail there."""
    ec_text, rsa_text = pkcs8_pem(p256), traditional_pem(rsa2048)
    ec_lines = ec_text.splitlines()
    return {
        "damaged body": ec_text[:60] + "AAAA" + ec_text[64:],
        "a line lost": "\n".join(ec_lines[:2] + ec_lines[3:]),
        "RSA body cut": rsa_text[:400] + rsa_text[-30:],
        "huge exponent": rsa_with_exponent(rsa2048, 2**40 + 1).private_bytes(PEM, PKCS8, NO_ENCRYPTION).decode(),
        "weak": rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .private_bytes(PEM, PKCS8, NO_ENCRYPTION)
        .decode(),
    }


def test_no_signing_refusal_carries_the_key_or_a_library_error(p256, rsa2048):
    for label, text in damaged_keys(p256, rsa2048).items():
        for call in (
            lambda: jose.sign_compact("{}", text, kid=None, alg=None),
            lambda: jose.public_facts_of_private_pem(text),
        ):
            with pytest.raises(jose.SigningInputError) as caught:
                call()
            exc = caught.value
            shown = f"{exc} {exc!r} {exc.args!r} {exc.message}"
            for chunk in body_chunks(text):
                assert chunk not in shown, label
            # Not even a suppressed library exception rides along (its traceback holds the key's frames).
            assert exc.__cause__ is None and exc.__context__ is None, label


def test_a_damaged_begin_line_is_named_only_when_its_label_is_ours(p256):
    # The "label" of a BEGIN line without its END may be key text that lost its line break.
    for label in ("MIGHAGEAMBMGBYQGSM49 PUBLIC KEY", "QGSM49AWEHBG0WAWIBAQQG CERTIFICATE"):
        with pytest.raises(jose.SigningInputError) as caught:
            jose.sign_compact("{}", f"-----BEGIN {label}-----\nAAAA\n", kid=None, alg=None)
        assert "is missing" in caught.value.message
        assert label.split()[0] not in caught.value.message
    with pytest.raises(jose.SigningInputError, match="'-----END PRIVATE KEY-----' line is missing"):
        jose.sign_compact("{}", pkcs8_pem(p256).replace("-----END PRIVATE KEY-----", ""), kid=None, alg=None)


def report_of(exc: BaseException) -> str:
    """What Django's error report (DEBUG off) shows of `exc` below this test: message and frame variables.

    The frames of this module are left out: the test itself holds the key, as the
    playground view does in its own (masked) frames.
    """
    reporter = ExceptionReporter(None, type(exc), exc, exc.__traceback__)
    frames = [frame for frame in reporter.get_traceback_frames() if frame["filename"] != __file__]
    assert any(frame["filename"].endswith("keys/jose.py") for frame in frames)
    return f"{exc!r} " + repr([(frame["function"], frame["vars"]) for frame in frames])


@pytest.mark.parametrize("patched", ["_payload_json", "_pem_blocks", "describe_public_key"])
def test_a_django_error_report_masks_the_private_key(p256, monkeypatch, settings, patched):
    """If anything ever escapes the signing code, the report Django mails shows no key text."""
    settings.DEBUG = False
    text = pkcs8_pem(p256)

    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(jose, patched, boom)
    escaped = 0
    for call in (
        lambda: jose.sign_compact("{}", text, kid=None, alg=None),
        lambda: jose.public_facts_of_private_pem(text),
    ):
        try:
            call()
        except RuntimeError as exc:
            shown = report_of(exc)
        else:
            continue  # this entry point does not reach the patched function
        escaped += 1
        assert "unexpected" in shown  # the report is about this error
        for chunk in body_chunks(text):
            assert chunk not in shown, patched
    assert escaped


# --- 3. private material that intake missed -----------------------------------------------------


def bare(pem_text: str) -> str:
    return "".join(pem_text.strip().splitlines()[1:-1])


def private_der(private_key, fmt=PKCS8) -> bytes:
    return private_key.private_bytes(DER, fmt, NO_ENCRYPTION)


def hidden_private_forms(p256, rsa2048) -> list[tuple[str, str, str | None]]:
    """(label, pasted text, "EC" | "RSA" | None): a public key with private material beside its blocks."""
    ec_pub, rsa_pub = spki_pem(p256), spki_pem(rsa2048)
    rsa_pkcs1_pub = rsa2048.public_key().public_bytes(PEM, PKCS1).decode()
    ec_der, rsa_der = private_der(p256), private_der(rsa2048)
    rsa_hex = rsa_der.hex()
    xxd = "\n".join(rsa_hex[i : i + 60] for i in range(0, len(rsa_hex), 60))  # what `xxd -p` prints
    encrypted = p256.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"pw")).decode()
    return [
        ("public PEM, then bare base64 PKCS#8 RSA", ec_pub + "\n" + bare(pkcs8_pem(rsa2048)), "RSA"),
        ("bare base64 PKCS#8 EC, then public PEM", bare(pkcs8_pem(p256)) + "\n" + ec_pub, "EC"),
        ("public PEM, then wrapped base64 PKCS#8 EC", ec_pub + base64.encodebytes(ec_der).decode(), "EC"),
        ("public PEM, then base64 PKCS#8 on the END line", ec_pub.rstrip() + " " + bare(pkcs8_pem(p256)), "EC"),
        ("public PEM, then hex PKCS#8 RSA", ec_pub + "\n" + rsa_hex, "RSA"),
        ("public PEM, then HEX PKCS#8 RSA", ec_pub + "\n" + rsa_hex.upper(), "RSA"),
        ("public PEM, then xxd -p hex", rsa_pub + xxd, "RSA"),
        ("public PEM, then colon hex", rsa_pub + ":".join(f"{b:02x}" for b in rsa_der), "RSA"),
        ("public PEM, then spaced hex", rsa_pub + " ".join(f"{b:02x}" for b in ec_der), "EC"),
        ("public PEM, then bare SEC1", ec_pub + bare(traditional_pem(p256)), "EC"),
        ("PKCS#1 public, then bare PKCS#1 private", rsa_pkcs1_pub + bare(traditional_pem(rsa2048)), "RSA"),
        ("public PEM, then bare encrypted PKCS#8", ec_pub + bare(encrypted), None),
        ("prose around", "Our key:\n" + ec_pub + "and its other half:\n" + bare(pkcs8_pem(p256)) + "\nThanks!", "EC"),
        ("certificate, then bare private", cert_pem(certificate(p256)) + bare(pkcs8_pem(p256)), "EC"),
        ("literal \\n between", (ec_pub + bare(pkcs8_pem(rsa2048))).replace("\n", "\\n"), "RSA"),
        ("JSON-quoted", json.dumps(ec_pub + bare(pkcs8_pem(p256))), "EC"),
        ("public PEM, then a private JWK", ec_pub + json.dumps(private_jwk(p256)), None),
        ("openssl -text of a private key", ec_pub + "Private-Key: (256 bit)\npriv:\n    3a:4f:10\npub:\n", None),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def hidden_cases(p256, rsa2048):
    return hidden_private_forms(p256, rsa2048)


def test_private_material_beside_the_pem_blocks_is_refused(hidden_cases):
    for label, text, kind in hidden_cases:
        exc = refused(text)
        assert exc.code == "private_key_rejected", label
        assert "not saved" in exc.message and "exposed" in exc.message, label
        if kind:
            assert f"{kind} private key" in exc.message, label
        assert_no_echo(exc, text)


def bare_der_damage(p256, rsa2048) -> list[tuple[str, bytes, str]]:
    ec_der, rsa_der = private_der(p256), private_der(rsa2048)
    rsa_pkcs1 = private_der(rsa2048, serialization.PrivateFormat.TraditionalOpenSSL)
    ec_sec1 = private_der(p256, serialization.PrivateFormat.TraditionalOpenSSL)
    return [
        ("PKCS#8 EC + 2 bytes", ec_der + b"\x00\x00", "EC"),
        ("PKCS#8 EC + a newline byte", ec_der + b"\n", "EC"),
        ("PKCS#8 RSA + 3 bytes", rsa_der + b"abc", "RSA"),
        ("PKCS#8 EC cut by 10 bytes", ec_der[:-10], "EC"),
        ("PKCS#8 EC cut to 40 bytes", ec_der[:40], "EC"),
        ("PKCS#8 RSA cut in half", rsa_der[: len(rsa_der) // 2], "RSA"),
        ("SEC1 EC cut", ec_sec1[:-20], "EC"),
        ("SEC1 EC + bytes", ec_sec1 + b"\x05\x00", "EC"),
        ("PKCS#1 RSA cut", rsa_pkcs1[:300], "RSA"),
        ("PKCS#1 RSA + bytes", rsa_pkcs1 + b"\x00", "RSA"),
    ]


@pytest.mark.parametrize("armour", ["bare", "PUBLIC KEY block", "PRIVATE KEY block"])
def test_damaged_unarmoured_private_der_is_still_private(p256, rsa2048, armour):
    for label, der, kind in bare_der_damage(p256, rsa2048):
        b64 = base64.b64encode(der).decode()
        if armour == "PUBLIC KEY block":
            b64 = f"-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"
        elif armour == "PRIVATE KEY block":
            b64 = f"-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"
        exc = refused(b64)
        assert exc.code == "private_key_rejected", label
        assert f"{kind} private key" in exc.message, label
        assert_no_echo(exc, b64)


def test_base64_of_a_private_key_cut_mid_character_is_private(p256, rsa2048):
    for der in (private_der(p256), private_der(rsa2048)):
        b64 = base64.b64encode(der).decode()
        for cut in (1, 2, 3, 50):
            exc = refused(b64[:-cut])
            assert exc.code == "private_key_rejected"
            assert_no_echo(exc, b64)


def test_public_pastes_with_prose_and_numbers_are_still_accepted(p256, rsa2048):
    for key in (p256, rsa2048):
        pem_text = spki_pem(key)
        der = key.public_key().public_bytes(DER, SPKI)
        fingerprint = hashlib.sha256(der).hexdigest()
        expected = import_public_key(pem_text).facts
        pastes = [
            *mangled_forms(pem_text).values(),
            "My key, made on Monday (MD5 is not used):\n" + pem_text + "\nMerci, Marie\n",
            pem_text + f"\nsha256 fingerprint: {fingerprint}\n",
            pem_text + "\n" + ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)),
            pem_text + "\n" + der.hex() + "\n",  # the same public key again, as hex
            pem_text + "\n" + base64.b64encode(der).decode(),  # and as bare base64
            "MIIB is how our keys start; here it is:\n" + pem_text,
            "30 days valid, key 30:\n" + pem_text,
        ]
        for text in pastes:
            assert import_public_key(text).facts == expected, text[:60]
        cert = cert_pem(certificate(key))
        assert import_public_key("Cert for 30 days:\n" + cert + "\nMIT licence").source_format == "certificate"


def test_sha256_sums_beside_a_key_are_never_taken_for_private_keys(p256):
    pem_text = spki_pem(p256)
    for i in range(300):
        digest = hashlib.sha256(f"{i}".encode()).hexdigest()
        for noise in ("30" + digest, "M" + base64.b64encode(bytes.fromhex(digest)).decode()):
            assert not intake.holds_private_key(noise)
            assert import_public_key(pem_text + "\n" + noise[:64] + "\n").facts.curve == "P-256"


def test_holds_private_key_agrees_with_intake(p256, rsa2048, hidden_cases):
    assert callable(intake.holds_private_key)
    private = [value for _, value, _ in private_forms(p256, rsa2048)]
    private += [text for _, text, _ in hidden_cases]
    private += [base64.b64encode(der).decode() for _, der, _ in bare_der_damage(p256, rsa2048)]
    for value in private:
        assert intake.holds_private_key(value) is True, str(value)[:60]
    public = [
        *mangled_forms(spki_pem(p256)).values(),
        *mangled_forms(cert_pem(certificate(rsa2048))).values(),
        public_jwk(p256),
        json.dumps(public_jwk(rsa2048)),
        {"keys": [public_jwk(p256)]},
        base64.b64encode(p256.public_key().public_bytes(DER, SPKI)).decode(),
        "",
        "hello",
        '{"sub": "x", "data": [1, 2]}',
        None,
        42,
    ]
    for value in public:
        assert intake.holds_private_key(value) is False, str(value)[:60]


def test_junk_that_only_looks_like_der_is_not_private_and_costs_little():
    # Thousands of words that start like DER: the search gives up after a bounded number of them.
    for junk in ("30 " * 6000, "MI " * 6000, "MIGHAgEAMBMGByqG " * 1100):
        assert refused(junk).code == "invalid_key"
    assert intake.holds_private_key("x" * (intake.MAX_SCANNED_CHARS + 1)) is True
