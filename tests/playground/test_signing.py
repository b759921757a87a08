"""keys.jose.sign_compact: the playground's in-memory signing. No database.

Tokens are checked with PyJWT and jwcrypto (independent implementations), and
every refusal is checked not to carry any part of the key it was given.
"""

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from keys import jose

FIELDS = [{"label": "name", "data": "Jane Doe", "type": "string"}]


def pem(private_key, fmt=serialization.PrivateFormat.PKCS8, password=None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return private_key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


def assert_no_key_text(message: str, private_pem: str):
    for line in private_pem.splitlines():
        if "-----" not in line and len(line) >= 8:
            assert line not in message


@pytest.mark.parametrize(
    ("curve", "alg", "size"),
    [(ec.SECP256R1, "ES256", 64), (ec.SECP384R1, "ES384", 96), (ec.SECP521R1, "ES512", 132)],
)
@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
def test_ec_keys_sign_their_own_algorithm_in_r_s(curve, alg, size, fmt):
    key = ec.generate_private_key(curve())
    signed = jose.sign_compact(json.dumps(FIELDS), pem(key, fmt), kid="k1", alg=None)
    assert signed.alg == alg and signed.header == {"alg": alg, "kid": "k1", "typ": "JWT"}
    assert signed.public.curve == {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
    assert json.loads(jwt.api_jws.decode(signed.token, key.public_key(), algorithms=[alg])) == FIELDS
    signature = jwt.utils.base64url_decode(signed.token.split(".")[2])
    assert len(signature) == size  # raw R‖S, never DER
    assert not jose.is_der_ecdsa_signature(signature)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", None])
@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
def test_rsa_keys(rsa2048, alg, fmt):
    signed = jose.sign_compact('{"sub": "x"}', pem(rsa2048, fmt), kid=None, alg=alg)
    assert signed.alg == (alg or "RS256")
    assert "kid" not in signed.header
    key = jc_jwk.JWK.from_pem(pem(rsa2048).encode())
    check = jc_jws.JWS()
    check.deserialize(signed.token)
    check.verify(key.public(), alg=signed.alg)
    assert json.loads(check.payload) == {"sub": "x"}


def test_the_payload_is_signed_compactly_in_its_own_order(p256):
    signed = jose.sign_compact('{\n  "z": 1,\n  "a": [1, 2],\n  "name": "Zoë"\n}', pem(p256), kid=None, alg="")
    assert signed.payload_text == '{"z":1,"a":[1,2],"name":"Zoë"}'
    assert jwt.api_jws.decode(signed.token, p256.public_key(), algorithms=["ES256"]) == signed.payload_text.encode()


def test_sec1_with_ec_parameters_block(p256):
    text = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    text += pem(p256, serialization.PrivateFormat.TraditionalOpenSSL)
    assert jose.sign_compact("[]", text, kid=None, alg=None).alg == "ES256"


def test_lost_newlines_are_repaired_and_reported(p256):
    original = pem(p256)
    for broken, words in (
        (original.replace("\n", "\\n"), "two characters \\n"),
        (original.replace("\n", " "), "line breaks were lost"),
        (original.replace("\n", "\r\n"), None),
    ):
        signed = jose.sign_compact("[]", broken, kid=None, alg=None)
        jwt.api_jws.decode(signed.token, p256.public_key(), algorithms=["ES256"])
        if words:
            assert any(words in note for note in signed.notes)
        else:
            assert signed.notes == ()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda k: pem(k)[:120] + pem(k)[130:], "damaged or incomplete"),
        (lambda k: pem(k).replace("-----END PRIVATE KEY-----", ""), "is missing"),
        (lambda k: pem(k, password=b"secret-pass"), "passphrase"),
        (
            lambda k: pem(k, serialization.PrivateFormat.TraditionalOpenSSL, password=b"secret-pass"),
            "encrypted",
        ),
        (
            lambda k: (
                k.public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            ),
            "public key",
        ),
        (lambda k: '{"kty": "EC", "d": "abc"}', "JWK"),
        (lambda k: "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg", "not a PEM key"),
        (lambda k: "", "Paste a private key"),
    ],
)
def test_unusable_keys_are_refused_without_echo(p256, make, words):
    text = make(p256)
    with pytest.raises(jose.SigningInputError) as caught:
        jose.sign_compact("[]", text, kid=None, alg=None)
    assert words in caught.value.message
    assert caught.value.field == "private_key"
    # No library exception (which could quote the input) is chained to the refusal.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert_no_key_text(caught.value.message, pem(p256))


def test_weak_and_unsupported_keys():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(jose.SigningInputError, match="at least 2048"):
        jose.sign_compact("[]", pem(weak), kid=None, alg=None)
    with pytest.raises(jose.SigningInputError, match="Signet accepts EC P-256"):
        jose.sign_compact("[]", pem(ed25519.Ed25519PrivateKey.generate()), kid=None, alg=None)
    with pytest.raises(jose.SigningInputError, match="secp256k1"):
        jose.sign_compact("[]", pem(ec.generate_private_key(ec.SECP256K1())), kid=None, alg=None)


@pytest.mark.parametrize("alg", ["RS256", "ES384", "HS256", "none", "PS256"])
def test_an_algorithm_that_does_not_fit_is_refused(p256, alg):
    with pytest.raises(jose.SigningInputError) as caught:
        jose.sign_compact("[]", pem(p256), kid=None, alg=alg)
    assert caught.value.field == "alg" and "signs ES256" in caught.value.message


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ("", "Write the payload"),
        ("{x", "not valid JSON (line 1, column 2"),
        ('{"a": 1, "a": 2}', "twice"),
        ("[NaN]", "NaN is not valid JSON"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        (json.dumps(["x" * 20_000]), "over"),
    ],
)
def test_bad_payloads(p256, payload, words):
    with pytest.raises(jose.SigningInputError) as caught:
        jose.sign_compact(payload, pem(p256), kid=None, alg=None)
    assert caught.value.field == "payload" and words in caught.value.message


def test_kid_limits(p256):
    with pytest.raises(jose.SigningInputError) as caught:
        jose.sign_compact("[]", pem(p256), kid="k" * 201, alg=None)
    assert caught.value.field == "kid"


def test_public_facts_match_registration(p256):
    facts = jose.public_facts_of_private_pem(pem(p256))
    spki = p256.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert facts.fingerprint_sha256 == jose.load_verifier(spki.decode()).facts.fingerprint_sha256
