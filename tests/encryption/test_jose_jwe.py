"""keys/jose.py, encryption section: strict JWE parsing and decryption, without a database.

Tokens come from jwcrypto (independent), Project Wycheproof and RFC 7520 (see
../shared/vectors/README.md and data/rfc7520_section6_nested.json).
"""

import base64
import json
import zlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwe as jc_jwe
from jwcrypto import jwk as jc_jwk

from keys import jose
from tests.encryption.conftest import jc_encrypt

LIMIT = 16 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _private_from_jwk(jwk: dict):
    pem = jc_jwk.JWK(**jwk).export_to_pem(private_key=True, password=None)
    return serialization.load_pem_private_key(pem, password=None)


def _public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def platform_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


@pytest.fixture
def decrypter(platform_key):
    return jose.DecrypterKey(platform_key)


@pytest.fixture
def pem(platform_key):
    return _public_pem(platform_key)


@pytest.fixture
def no_python_jose_decrypt(monkeypatch):
    """Refusals that must happen before python-jose's jwe.decrypt is ever reached."""

    def forbidden(*args, **kwargs):
        raise AssertionError("python-jose jwe.decrypt must not be called for this token")

    monkeypatch.setattr(jose.jose_jwe, "decrypt", forbidden)


def _refused(token, decrypter=None, *, max_bytes=LIMIT):
    with pytest.raises(jose.TokenRefused) as info:
        parsed = jose.parse_compact_jwe(token, max_bytes=max_bytes)
        if decrypter is not None:
            decrypter.decrypt(parsed)
    return info.value


# --- round trips with an independent library -------------------------------


def test_jwcrypto_encrypts_and_we_decrypt(decrypter, pem):
    token = jc_encrypt(pem, b"a.b.c", kid="enc-1")
    parsed = jose.parse_compact_jwe(token, max_bytes=LIMIT)
    assert parsed.kid == "enc-1"
    assert parsed.header["cty"] == "JWT"
    assert decrypter.decrypt(parsed) == b"a.b.c"


def test_we_encrypt_and_jwcrypto_decrypts(platform_key, pem):
    token = jose.encrypt_compact_jwe(pem, b"x.y.z", kid="enc-2")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT", "kid": "enc-2"}
    key = jc_jwk.JWK.from_pem(
        platform_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    out = jc_jwe.JWE()
    out.deserialize(token, key=key)
    assert out.payload == b"x.y.z"


def test_decrypter_never_shows_key_material(decrypter, platform_key):
    d = platform_key.private_numbers().d
    assert str(d) not in repr(decrypter)
    assert "PRIVATE" not in repr(decrypter)
    with pytest.raises(AttributeError):
        decrypter.__dict__  # slots only: nothing to dump


# --- Wycheproof -------------------------------------------------------------


def _groups(data, names):
    return [g for g in data["testGroups"] if g["comment"] in names]


def test_wycheproof_rsa_oaep_256_groups(wycheproof_jwe):
    """Every test of the jwe_rsa_oaep_256 groups: the A256GCM valid ones decrypt to `pt`; the rest are refused."""
    seen_valid = 0
    seen = 0
    for group in _groups(wycheproof_jwe, {"jwe_rsa_oaep_256", "jwe_rsa_oaep_modified"}):
        decrypter = jose.DecrypterKey(_private_from_jwk(group["private"]))
        for test in group["tests"]:
            seen += 1
            token = test["jwe"]
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            fits = header.get("alg") == "RSA-OAEP-256" and header.get("enc") == "A256GCM"
            if test["result"] == "valid" and fits:
                assert decrypter.decrypt(jose.parse_compact_jwe(token, max_bytes=LIMIT)) == bytes.fromhex(test["pt"])
                seen_valid += 1
                continue
            refusal = _refused(token, decrypter)
            if not fits:
                assert refusal.code == "unsupported_algorithm", test["tcId"]
            else:
                assert refusal.code == "decryption_failed", test["tcId"]
    assert seen_valid == 1  # tcId 90
    assert seen == 20  # 12 + 1 (jwe_rsa_oaep_256) + 7 (jwe_rsa_oaep_modified)


def test_wycheproof_a256gcm_tests_of_every_rsa_group(wycheproof_jwe, no_python_jose_decrypt):
    """RSA1_5 and RSA-OAEP tokens with A256GCM (incl. Pkcs15WithOaepKey, RFC 7520 5.2) are refused unread."""
    refused = []
    for group in wycheproof_jwe["testGroups"]:
        for test in group["tests"]:
            if test.get("enc") != "A256GCM" or not isinstance(test["jwe"], str) or test["jwe"].count(".") != 4:
                continue
            encoded_header = test["jwe"].split(".")[0]
            if not encoded_header:  # tcId 20, 49: no protected header at all
                assert _refused(test["jwe"]).code == "malformed_token", test["tcId"]
                continue
            header = json.loads(base64.urlsafe_b64decode(encoded_header + "=="))
            if header["alg"] == "RSA-OAEP-256":
                continue
            assert _refused(test["jwe"]).code == "unsupported_algorithm", test["tcId"]
            refused.append(test["tcId"])
    # RSA1_5 with an OAEP key (94-99), RSA1_5 (102), RSA-OAEP (84), RFC 7520 5.2 (129), AES-KW, ECDH-ES...
    assert {84, 94, 95, 96, 97, 98, 99, 102, 129, 29, 34, 73, 78} <= set(refused)


def test_wycheproof_json_serialization_is_refused(wycheproof_jwe):
    for group in wycheproof_jwe["testGroups"]:
        for test in group["tests"]:
            if "JsonSerialization" in test["flags"]:
                token = test["jwe"] if isinstance(test["jwe"], str) else json.dumps(test["jwe"])
                assert _refused(token).code in ("malformed_token", "unsupported_algorithm")


# --- RFC 7520 ---------------------------------------------------------------


def _rfc7520_52(wycheproof_jwe):
    for group in wycheproof_jwe["testGroups"]:
        for test in group["tests"]:
            if test["tcId"] == 129:  # RFC 7520 5.2, Figure 92: RSA-OAEP + A256GCM
                return group, test
    raise AssertionError("RFC 7520 5.2 not in the Wycheproof file")


def test_rfc7520_5_2_rsa_oaep_sha1_is_refused_before_decryption(wycheproof_jwe, no_python_jose_decrypt):
    _group, test = _rfc7520_52(wycheproof_jwe)
    refusal = _refused(test["jwe"])
    assert refusal.code == "unsupported_algorithm"
    assert "RSA-OAEP-256" in refusal.message


def test_rfc7520_5_2_key_and_plaintext_under_our_algorithms(wycheproof_jwe):
    """The 5.2 example re-made where its algorithms fit: same RFC key and plaintext, RSA-OAEP-256 + A256GCM."""
    group, test = _rfc7520_52(wycheproof_jwe)
    public = jc_jwk.JWK(**{k: v for k, v in group["private"].items() if k in ("kty", "n", "e", "kid")})
    plaintext = bytes.fromhex(test["pt"])
    token = jc_encrypt(public, plaintext)
    decrypter = jose.DecrypterKey(_private_from_jwk(group["private"]))  # the RFC's 4096-bit key
    assert decrypter.decrypt(jose.parse_compact_jwe(token, max_bytes=LIMIT)) == plaintext


def test_rfc7520_6_nested_as_published_is_refused(nested_rfc7520, no_python_jose_decrypt):
    refusal = _refused(nested_rfc7520["jwe_compact"])
    assert refusal.code == "unsupported_algorithm"


def test_rfc7520_6_nested_jws_under_our_algorithms(wycheproof_jwe, nested_rfc7520):
    """The RFC's nested JWS, encrypted to the RFC's encryption key with RSA-OAEP-256 + A256GCM, comes out intact."""
    group, _ = _rfc7520_52(wycheproof_jwe)
    public = jc_jwk.JWK(**{k: v for k, v in group["private"].items() if k in ("kty", "n", "e", "kid")})
    token = jc_encrypt(public, nested_rfc7520["jws_compact"])
    decrypter = jose.DecrypterKey(_private_from_jwk(group["private"]))
    plaintext = decrypter.decrypt(jose.parse_compact_jwe(token, max_bytes=LIMIT))
    assert plaintext.decode() == nested_rfc7520["jws_compact"]


# --- refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "enc"),
    [
        ("RSA1_5", "A256GCM"),
        ("RSA-OAEP", "A256GCM"),
        ("RSA-OAEP-256", "A128CBC-HS256"),
        ("RSA-OAEP-256", "A256CBC-HS512"),
        ("RSA-OAEP-256", "A128GCM"),
        ("RSA1_5", "A128CBC-HS256"),
    ],
)
def test_other_algorithms_are_refused_before_decryption(pem, alg, enc, no_python_jose_decrypt):
    token = jc_encrypt(pem, b"a.b.c", alg=alg, enc=enc)
    refusal = _refused(token)
    assert refusal.code == "unsupported_algorithm"
    assert alg in refusal.message and enc in refusal.message


def test_hand_made_headers_are_refused(no_python_jose_decrypt):
    rest = ".".join(_b64(b"\x00" * n) for n in (384, 12, 5, 16))
    for header, code in [
        ({"alg": "dir", "enc": "A256GCM"}, "unsupported_algorithm"),
        ({"alg": "none", "enc": "A256GCM"}, "unsupported_algorithm"),
        ({"enc": "A256GCM"}, "unsupported_algorithm"),
        ({"alg": "RSA-OAEP-256"}, "unsupported_algorithm"),
        ({"alg": "rsa-oaep-256", "enc": "A256GCM"}, "unsupported_algorithm"),
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF"}, "unsupported_algorithm"),
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "crit": ["exp"], "exp": 1}, "unsupported_algorithm"),
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": 7}, "malformed_token"),
        # API.md: exactly alg + enc (optional kid, cty): header-supplied keys and private names are refused
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "jku": "https://evil.example/jwks"}, "malformed_token"),
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "jwk": {"kty": "RSA"}}, "malformed_token"),
        ({"alg": "RSA-OAEP-256", "enc": "A256GCM", "x": 1}, "malformed_token"),
    ]:
        token = _b64(json.dumps(header).encode()) + "." + rest
        assert _refused(token).code == code, header


def test_the_optional_header_members_are_accepted(pem):
    token = jc_encrypt(pem, b"a.b.c", kid="enc-1", extra={"typ": "JWE"})
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "enc-1", "cty": "JWT", "typ": "JWE"}
    assert jose.parse_compact_jwe(token, max_bytes=LIMIT).header == header


def test_duplicate_header_members_are_refused(no_python_jose_decrypt):
    raw = b'{"alg":"RSA1_5","alg":"RSA-OAEP-256","enc":"A256GCM"}'
    token = _b64(raw) + "." + ".".join(_b64(b"\x00" * n) for n in (384, 12, 5, 16))
    assert _refused(token).code == "malformed_token"


def test_zip_def_and_a_decompression_bomb_are_refused_unread(pem, no_python_jose_decrypt):
    assert _refused(jc_encrypt(pem, b"a.b.c", compress="DEF")).code == "unsupported_algorithm"
    # A genuine bomb: 10 MiB of zeros, deflated by jwcrypto and encrypted to our key, fits the 16 KiB limit.
    bomb = jc_encrypt(pem, b"\x00" * (10 * 1024 * 1024), compress="DEF")
    assert len(bomb) < LIMIT
    assert _refused(bomb).code == "unsupported_algorithm"
    # The same by hand (raw deflate, as RFC 7516 specifies), with an arbitrary encrypted key.
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = squeeze.compress(b"\x00" * (10 * 1024 * 1024)) + squeeze.flush()
    header = _b64(json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF"}).encode())
    token = ".".join([header, _b64(b"\x01" * 384), _b64(b"\x02" * 12), _b64(compressed), _b64(b"\x03" * 16)])
    assert len(token) < LIMIT
    assert _refused(token).code == "unsupported_algorithm"


def test_wrong_key_fails_to_decrypt(pem):
    other = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    token = jc_encrypt(pem, b"a.b.c")
    assert _refused(token, jose.DecrypterKey(other)).code == "decryption_failed"


def _tamper(token: str, index: int, flip_at: int = 0) -> str:
    parts = token.split(".")
    data = bytearray(base64.urlsafe_b64decode(parts[index] + "=="))
    data[flip_at] ^= 0x01
    parts[index] = _b64(bytes(data))
    return ".".join(parts)


@pytest.mark.parametrize(("part", "what"), [(1, "encrypted key"), (2, "iv"), (3, "ciphertext"), (4, "tag")])
def test_tampering_any_part_fails(decrypter, pem, part, what):
    token = jc_encrypt(pem, b"header.payload.signature")
    assert _refused(_tamper(token, part), decrypter).code == "decryption_failed", what


def test_tampered_protected_header_fails_authentication(decrypter, pem):
    token = jc_encrypt(pem, b"a.b.c", kid="enc-1")
    parts = token.split(".")
    parts[0] = _b64(json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT", "kid": "enc-2"}).encode())
    assert _refused(".".join(parts), decrypter).code == "decryption_failed"


def test_truncated_and_malformed_tokens(decrypter, pem):
    token = jc_encrypt(pem, b"a.b.c")
    parts = token.split(".")
    assert _refused(".".join(parts[:4])).code == "malformed_token"
    assert _refused(".".join(parts) + ".").code == "malformed_token"
    assert _refused(".".join([*parts[:4], ""])).code == "decryption_failed"  # empty tag
    assert _refused(".".join([*parts[:4], parts[4][:-2]]), decrypter).code == "decryption_failed"  # short tag
    assert _refused(".".join([parts[0], parts[1][:-4], *parts[2:]]), decrypter).code == "decryption_failed"
    assert _refused(".".join([parts[0], "", *parts[2:]]), decrypter).code == "decryption_failed"
    assert _refused(".".join([parts[0], parts[1], parts[2][:-1], *parts[3:]])).code in (
        "malformed_token",
        "decryption_failed",
    )


def test_non_canonical_base64url_is_refused(pem):
    token = jc_encrypt(pem, b"a.b.c")
    parts = token.split(".")
    padded = [parts[0] + "=" * (-len(parts[0]) % 4 or 4), *parts[1:]]
    assert _refused(".".join(padded)).code == "malformed_token"
    spaced = [parts[0], parts[1][:10] + " " + parts[1][10:], *parts[2:]]
    assert _refused(".".join(spaced)).code == "malformed_token"
    standard = [parts[0], parts[1].replace("-", "+").replace("_", "/"), *parts[2:]]
    if standard != parts:
        assert _refused(".".join(standard)).code == "malformed_token"
    # Non-zero unused bits in the last character of the 12-byte IV (16 chars, no unused bits) -> use the tag (22 chars).
    tag = parts[4]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(tag[-1])
    bad_tag = tag[:-1] + alphabet[last ^ 0x01]  # flips an unused bit (22 chars carry 2 unused bits)
    assert _refused(".".join([*parts[:4], bad_tag])).code == "malformed_token"


def test_size_limit_comes_first(pem, no_python_jose_decrypt):
    token = jc_encrypt(pem, b"a.b.c")
    assert _refused(token, max_bytes=len(token) - 1).code == "token_too_large"
    assert _refused("x" * (LIMIT + 1)).code == "token_too_large"


def test_decrypter_refuses_small_or_non_rsa_keys():
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(ValueError):
        jose.DecrypterKey(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError):
        jose.DecrypterKey(rsa.generate_private_key(public_exponent=65537, key_size=1024))


def test_strict_base64url_helper():
    assert jose.b64url_decode_strict("") == b""
    assert jose.b64url_decode_strict("AQAB") == b"\x01\x00\x01"
    for bad in ("AQAB=", "AQ=", "A", "AQ+B", "AQ B", "AR"):  # "AR": unused bits set
        with pytest.raises(ValueError):
            jose.b64url_decode_strict(bad)


def test_aead_seal_binds_associated_data():
    key = b"k" * 32
    blob = jose.aead_seal(key, b"secret", aad=b"row-1")
    assert jose.aead_open(key, blob, aad=b"row-1") == b"secret"
    with pytest.raises(ValueError):
        jose.aead_open(key, blob, aad=b"row-2")
    with pytest.raises(ValueError):
        jose.aead_open(b"j" * 32, blob, aad=b"row-1")
    assert jose.aead_seal(key, b"secret", aad=b"row-1")[:12] != blob[:12]  # fresh nonce
