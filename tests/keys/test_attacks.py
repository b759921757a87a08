"""Attacks on the verifier, each with its precise code; nothing may raise but VerificationError.

Database-free. Tokens are made with PyJWT or `cryptography` (tests/keys/test_engine.py
helpers), never with our JOSE code.
"""

import base64
import hashlib
import hmac
import itertools
import json
import socket
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from keys import engine
from keys.engine import Policy
from tests.keys.test_engine import NOW, b64, candidate, check, live_claims, refusal, sign_raw, unb64


@pytest.fixture(autouse=True)
def no_internal_errors(monkeypatch):
    """The engine maps an unexpected exception to malformed_token and logs it; here that is a bug."""

    class Strict:
        def exception(self, message, *args):
            raise AssertionError(f"engine crashed inside: {message}")

    monkeypatch.setattr(engine, "log", Strict())


@pytest.fixture
def keys(ec_key, rsa_key):
    return [candidate(ec_key.public_pem, kid="site-1"), candidate(rsa_key.public_pem, kid="rsa-1")]


@pytest.fixture
def attacker():
    from tests.conftest import KeyPair

    return KeyPair(ec.generate_private_key(ec.SECP256R1()), "ES256")


@pytest.fixture
def no_network(monkeypatch):
    """The verifier must never fetch anything (jku, x5u): any connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the verifier tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def with_parts(token: str, *, header=None, payload=None, signature=None) -> str:
    h, p, s = token.split(".")
    return ".".join([header if header is not None else h, payload if payload is not None else p,
                     signature if signature is not None else s])  # fmt: skip


# --- alg none and HMAC ---------------------------------------------------------


def casings(word):
    return sorted({"".join(c) for c in itertools.product(*[(ch.lower(), ch.upper()) for ch in word])})


@pytest.mark.parametrize("alg", casings("none"))
@pytest.mark.parametrize("signature", ["", "AAAA", None])
@pytest.mark.parametrize("kid", [None, "site-1"])
def test_alg_none_in_every_casing(ec_key, keys, alg, signature, kid):
    header = {"alg": alg, **({"kid": kid} if kid else {})}
    token = sign_raw(ec_key, header, live_claims(), alg="ES256")  # a real ES256 signature under alg none
    if signature is not None:
        token = with_parts(token, signature=signature)
    error = refusal(token, keys)
    assert error.code == "unsupported_algorithm"
    assert "never accepted" in error.message


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "hs256"])
@pytest.mark.parametrize("kid", [None, "site-1", "rsa-1"])
def test_hmac_with_the_public_key_pem_as_secret(ec_key, rsa_key, keys, alg, kid):
    """The classic key-confusion attack: the attacker knows the public PEM and uses it as the HMAC secret."""
    for public_pem in (ec_key.public_pem, rsa_key.public_pem):
        header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
        signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(live_claims()))}"
        digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[alg[2:]]
        mac = hmac.new(public_pem.encode(), signing_input.encode(), digest).digest()
        error = refusal(f"{signing_input}.{b64(mac)}", keys)
        assert error.code == "unsupported_algorithm"
        assert "shared-secret" in error.message or "case-sensitive" in error.message


# --- the token must never choose the key ------------------------------------------------


def attacker_jwk(attacker):
    numbers = attacker.private_key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
    }


@pytest.mark.parametrize("kid", [None, "site-1"])
def test_embedded_jwk_is_ignored(attacker, keys, kid, no_network):
    header = {"alg": "ES256", "jwk": attacker_jwk(attacker), **({"kid": kid} if kid else {})}
    error = refusal(sign_raw(attacker, header, live_claims()), keys)
    assert error.code == "bad_signature"
    assert "'jwk' header was ignored" in error.message


def test_embedded_jwk_with_an_unregistered_kid(attacker, keys):
    header = {"alg": "ES256", "kid": "attacker", "jwk": {**attacker_jwk(attacker), "kid": "attacker"}}
    error = refusal(sign_raw(attacker, header, live_claims()), keys)
    assert error.code == "unknown_key"
    assert "'jwk' header was ignored" in error.message


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"x5c": ["MIIBszCCAVmgAwIBAgIUQ"]},
        {"jku": "http://127.0.0.1:1/jwks.json", "x5u": "file:///etc/passwd", "x5c": []},
    ],
)
def test_jku_x5u_x5c_are_never_used(attacker, ec_key, keys, extra, no_network):
    error = refusal(sign_raw(attacker, {"alg": "ES256", "kid": "site-1", **extra}, live_claims()), keys)
    assert error.code == "bad_signature"
    for name in extra:
        assert f"'{name}'" in error.message
    # the same headers on a token signed by the registered key change nothing
    assert check(sign_raw(ec_key, {"alg": "ES256", "kid": "site-1", **extra}, live_claims()), keys).kid == "site-1"


@pytest.mark.parametrize(
    "kid",
    ["../../x", "../site-1", "site-1/../site-1", "' OR 1=1 --", "site-%", "site-*", "SITE-1", " site-1", "site-1\x00"],
)
def test_kid_is_an_opaque_exact_string(ec_key, keys, kid):
    error = refusal(sign_raw(ec_key, {"alg": "ES256", "kid": kid}, live_claims()), keys)
    assert error.code == "unknown_key"


def test_revoked_key_stays_refused_whatever_the_header_says(ec_key, rsa_key):
    keys = [candidate(ec_key.public_pem, kid="old", status="revoked"), candidate(rsa_key.public_pem, kid="new")]
    assert refusal(ec_key.sign(live_claims(), headers={"kid": "old"}), keys).code == "revoked_key"
    # no kid, no active ES256 key: the revoked key that signed it is named (API.md: revoked_key)
    assert refusal(ec_key.sign(live_claims()), keys).code == "revoked_key"
    keys.append(candidate(ec_key.public_pem, kid="other-ec"))  # the same public key, active under another kid
    assert check(ec_key.sign(live_claims(), headers={"kid": "other-ec"}), keys).kid == "other-ec"
    assert refusal(ec_key.sign(live_claims(), headers={"kid": "old"}), keys).code == "revoked_key"


# --- algorithm vs key ------------------------------------------------------------


@pytest.mark.parametrize("kid", [None, "site-1"])
def test_es384_header_with_a_p256_key(ec_key, keys, kid):
    header = {"alg": "ES384", **({"kid": kid} if kid else {})}
    # what python-jose alone would accept: a P-256 signature over SHA-384
    error = refusal(sign_raw(ec_key, header, live_claims(), alg="ES384"), keys)
    assert error.code == "unsupported_algorithm"
    assert "ES384" in error.message and "P-256" in error.message


@pytest.mark.parametrize("kid", [None, "p384"])
def test_es256_header_with_a_p384_key(ec384_key, kid):
    keys = [candidate(ec384_key.public_pem, kid="p384")]
    header = {"alg": "ES256", **({"kid": kid} if kid else {})}
    error = refusal(sign_raw(ec384_key, header, live_claims(), alg="ES256"), keys)
    assert error.code == "unsupported_algorithm"
    assert "P-384 key (ES384)" in error.message


def test_rsa_alg_with_an_ec_key_and_ec_alg_with_an_rsa_key(ec_key, rsa_key, keys):
    assert refusal(sign_raw(rsa_key, {"alg": "RS256", "kid": "site-1"}, live_claims()), keys).code == (
        "unsupported_algorithm"
    )
    assert refusal(sign_raw(ec_key, {"alg": "ES256", "kid": "rsa-1"}, live_claims()), keys).code == (
        "unsupported_algorithm"
    )


# --- signatures ----------------------------------------------------------------------


ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
}


@pytest.mark.parametrize("alg", ["ES256", "ES384"])
@pytest.mark.parametrize("r_s", ["zero", "order", "one"])
def test_psychic_and_degenerate_ecdsa_signatures(ec_key, ec384_key, alg, r_s):
    """CVE-2022-21449 and friends: r = s = 0, r = s = n, r = s = 1."""
    keypair = ec_key if alg == "ES256" else ec384_key
    keys = [candidate(keypair.public_pem)]
    size = 32 if alg == "ES256" else 48
    value = {"zero": 0, "order": ORDERS[alg], "one": 1}[r_s]
    signature = value.to_bytes(size, "big") * 2
    token = with_parts(keypair.sign(live_claims()), signature=b64(signature))
    assert refusal(token, keys).code == "bad_signature"


@pytest.mark.parametrize(("fixture", "size"), [("ec_key", 64), ("ec384_key", 96)])
def test_der_signature_gets_its_own_message(request, fixture, size):
    keypair = request.getfixturevalue(fixture)
    keys = [candidate(keypair.public_pem)]
    header = b64(json.dumps({"alg": keypair.alg}))
    payload = b64(json.dumps(live_claims()))
    digest = hashes.SHA256() if keypair.alg == "ES256" else hashes.SHA384()
    der = keypair.private_key.sign(f"{header}.{payload}".encode(), ec.ECDSA(digest))
    error = refusal(f"{header}.{payload}.{b64(der)}", keys)
    assert error.code == "bad_signature"
    assert f"This signature is DER-encoded; JWS needs the {size}-byte R‖S form" in error.message


def test_wrong_length_signatures_say_the_expected_length(ec_key, rsa_key, keys):
    token = ec_key.sign(live_claims())
    signature = unb64(token.split(".")[2])
    for bad in (signature[:-1], signature + b"\x00", b"\x00" + signature, signature * 2):
        error = refusal(with_parts(token, signature=b64(bad)), keys)
        assert error.code == "bad_signature"
        assert "must be exactly 64 bytes" in error.message
    token = rsa_key.sign(live_claims(), headers={"kid": "rsa-1"})
    signature = unb64(token.split(".")[2])
    error = refusal(with_parts(token, signature=b64(signature[1:])), keys)
    assert error.code == "bad_signature"
    assert "needs exactly 256 bytes" in error.message
    error = refusal(with_parts(token, signature=""), keys)
    assert error.code == "bad_signature"
    assert "no signature" in error.message


def test_tampered_payload_and_header(ec_key, keys):
    token = ec_key.sign(live_claims(isLoggedIn=False))
    tampered = b64(json.dumps(live_claims(isLoggedIn=True), separators=(",", ":")))
    assert refusal(with_parts(token, payload=tampered), keys).code == "bad_signature"
    header = b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "site-1"}))
    assert refusal(with_parts(token, header=header), keys).code == "bad_signature"
    # splicing: the payload of another valid token
    other = ec_key.sign(live_claims(name="Mallory"))
    assert refusal(with_parts(token, payload=other.split(".")[1]), keys).code == "bad_signature"


# --- base64 strictness: one signed text, one token -------------------------------------


def lax_variants(part: str):
    """Texts python-jose decodes to the same bytes as `part` (or nearly), all of which we refuse."""
    yield part + "="
    yield part + "=="
    yield part + "===="
    yield part.replace("-", "+").replace("_", "/") if ("-" in part or "_" in part) else "+" + part[1:]
    yield "    " + part
    yield part[:5] + " " + part[5:]
    yield part[:5] + "\n" + part[5:]
    yield part[:5] + "####" + part[5:]
    yield part[:5] + "?" + part[5:]
    yield part[:5] + "." + part[5:]
    yield part + "\x00"
    yield part[:5] + "\u0410" + part[5:]  # Cyrillic A
    yield part + "A" * ((1 - len(part)) % 4 or 4)  # an impossible length (1 mod 4)


def non_canonical(part: str):
    """Same bytes, different last character (unused low bits set)."""
    rest = len(part) % 4
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(part[-1])
    flipped = alphabet[index | (0b1111 if rest == 2 else 0b11)]
    return part[:-1] + flipped


@pytest.mark.parametrize("which", [0, 1, 2])
def test_lax_base64_variants_are_malformed(ec_key, keys, which):
    token = ec_key.sign(live_claims(name="Jane Doe!"))
    assert check(token, keys)
    parts = token.split(".")
    for variant in lax_variants(parts[which]):
        mutated = ".".join([*parts[:which], variant, *parts[which + 1 :]])
        if mutated.strip() == token:
            continue
        error = refusal(mutated, keys)
        assert error.code == "malformed_token", (variant, error.message)


def test_non_canonical_last_character_is_malformed(ec_key, keys):
    # a token whose three parts all end with spare bits (lengths 2 or 3 mod 4)
    for i, j in itertools.product(range(4), range(4)):
        token = sign_raw(ec_key, {"alg": "ES256", "p": "x" * i}, live_claims(name="x" * j))
        parts = token.split(".")
        if all(len(p) % 4 in (2, 3) for p in parts):
            break
    else:
        pytest.fail("no suitable token")
    assert check(token, keys)
    for which in range(3):
        mutated = parts.copy()
        mutated[which] = non_canonical(parts[which])
        assert mutated[which] != parts[which]
        assert unb64(mutated[which]) == unb64(parts[which])  # a lax decoder sees the same bytes
        error = refusal(".".join(mutated), keys)
        assert error.code == "malformed_token"
        assert "not canonical base64url" in error.message


def test_padding_and_standard_alphabet_messages(ec_key, keys):
    token = ec_key.sign(live_claims())
    assert "'=' padding" in refusal(token + "=", keys).message
    h, p, s = token.split(".")
    std = s.replace("-", "+").replace("_", "/")
    if std != s:
        assert "URL-safe" in refusal(f"{h}.{p}.{std}", keys).message


# --- header tricks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [{"crit": []}, {"crit": ["exp"]}, {"crit": ["b64"], "b64": False}, {"crit": "x"}, {"crit": None}],
)
def test_crit_is_refused_even_empty(ec_key, keys, extra):
    error = refusal(sign_raw(ec_key, {"alg": "ES256", **extra}, live_claims()), keys)
    assert error.code == "malformed_token"
    assert "crit headers are not supported" in error.message


@pytest.mark.parametrize("value", [False, True, None])
def test_b64_header_is_refused(ec_key, keys, value):
    error = refusal(sign_raw(ec_key, {"alg": "ES256", "b64": value}, live_claims()), keys)
    assert error.code == "malformed_token"
    assert "b64" in error.message


@pytest.mark.parametrize(
    "header",
    [
        '{"alg":"ES256","alg":"none"}',
        '{"alg":"none","alg":"ES256"}',
        '{"alg":"ES256","kid":"site-1","kid":"rsa-1"}',
        '{"alg":"ES256","x":{"a":1,"a":2}}',
    ],
)
def test_duplicate_members_in_the_header(ec_key, keys, header):
    error = refusal(sign_raw(ec_key, header, live_claims()), keys)
    assert error.code == "malformed_token"
    assert "appears twice" in error.message


@pytest.mark.parametrize(
    "header",
    ["{", '{"alg":"ES256"', "{'alg':'ES256'}", '{"alg":"ES256",}', '{"alg":NaN}', "\ufeff{}", '{"alg":"ES256"}x'],
)
def test_bad_json_header(ec_key, keys, header):
    assert refusal(sign_raw(ec_key, header, live_claims()), keys).code == "malformed_token"


@pytest.mark.parametrize(
    "payload",
    ['{"exp":1,"exp":4102444800}', '{"name":"a","name":"b"}', '[{"label":"a","label":"b","data":1}]'],
)
def test_duplicate_members_in_the_payload(ec_key, keys, payload):
    error = refusal(sign_raw(ec_key, {"alg": "ES256"}, payload), keys)
    assert error.code == "invalid_payload"
    assert "appears twice" in error.message


# --- size and depth ---------------------------------------------------------------------


def test_oversized_tokens(ec_key, keys):
    token = ec_key.sign(live_claims(blob="x" * 20_000))
    error = refusal(token, keys)
    assert error.code == "token_too_large"
    assert "at most 16384" in error.message
    assert refusal("A" * 1_000_000, keys).code == "token_too_large"
    assert refusal("." * 20_000, keys).code == "token_too_large"


@pytest.mark.parametrize("depth", [33, 3000, 16_000 // 2 - 10])
def test_deeply_nested_header_is_malformed_before_json(ec_key, keys, depth):
    header = '{"alg":"ES256","x":' + "[" * depth + "]" * depth + "}"
    token = f"{b64(header)}.{b64(json.dumps(live_claims()))}.{'A' * 86}"
    policy = Policy(max_token_bytes=10**6)
    error = refusal(token, keys, policy=policy)
    assert error.code == "malformed_token"
    assert "nested deeper than 32" in error.message


def test_deeply_nested_payload(ec_key, ec_key_2, keys):
    policy = Policy(max_token_bytes=10**6)
    deep = '{"a":' + "[" * 5000 + "]" * 5000 + "}"
    # unsigned by a registered key: the signature is checked first
    assert refusal(sign_raw(ec_key_2, {"alg": "ES256"}, deep), keys, policy=policy).code == "bad_signature"
    error = refusal(sign_raw(ec_key, {"alg": "ES256"}, deep), keys, policy=policy)
    assert error.code == "invalid_payload"
    assert "nested deeper than 32" in error.message


def test_hostile_json_stays_fast(ec_key, keys):
    """Inputs aimed at the bracket scan and the parser: linear time (here about 10x the default size limit)."""
    payloads = [
        '{"a":"' + '\\"[' * 50_000 + '"}',  # escaped quotes and brackets inside one string
        '{"a":"' + "[" * 150_000,  # an unterminated string full of brackets
        '{"a":"' + '\\"' * 75_000,  # an unterminated string of escaped quotes
        "[" * 150_000,  # unbalanced
        '["' + '","'.join("[" * 10 for _ in range(10_000)) + '"]',  # many strings
        '{"a":[' + ",".join(["[[[[]]]]"] * 15_000) + "]}",  # wide but shallow: accepted
    ]
    policy = Policy(max_token_bytes=300_000)
    for payload in payloads:
        token = sign_raw(ec_key, {"alg": "ES256"}, payload)
        started = time.perf_counter()
        try:
            check(token, keys, policy=policy)
        except engine.VerificationError as exc:
            assert exc.code == "invalid_payload"
        # linear: ~20-150 ms here; a quadratic scan of these inputs would take minutes
        assert time.perf_counter() - started < 3, payload[:20]


# --- claims tricks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exp", "code"),
    [
        ("null", "invalid_claim"),
        ("[4102444800]", "invalid_claim"),
        ('"4102444800"', "invalid_claim"),
        ("true", "invalid_claim"),
        ("false", "invalid_claim"),
        ("{}", "invalid_claim"),
        ("1" + "0" * 30, "invalid_claim"),
        ("1" + "0" * 400, "invalid_payload"),  # over 40 digits: refused by the parser
        ("1e400", "invalid_payload"),  # infinite
        ("-1", "invalid_claim"),
        ("NaN", "invalid_payload"),
        ("-Infinity", "invalid_payload"),
    ],
)
def test_exp_of_every_wrong_kind(ec_key, keys, exp, code):
    payload = '{"name":"a","exp":' + exp + "}"
    assert refusal(sign_raw(ec_key, {"alg": "ES256"}, payload), keys).code == code


def test_exp_as_a_float_in_range_is_a_number(ec_key, keys):
    # 2100-01-01 written as a float: a valid NumericDate, refused only by the default 24 h lifetime
    assert refusal(sign_raw(ec_key, {"alg": "ES256"}, '{"exp":4102444800e0}'), keys).code == "lifetime_too_long"
    assert check(sign_raw(ec_key, {"alg": "ES256"}, '{"exp":18000006e2}'), keys).exp == NOW + 600


def test_expired_not_yet_valid_future_iat(ec_key, keys):
    assert refusal(ec_key.sign(live_claims(exp=NOW - 3600, iat=NOW - 7200)), keys).code == "expired"
    assert refusal(ec_key.sign(live_claims(nbf=NOW + 3600, exp=NOW + 7200)), keys).code == "not_yet_valid"
    assert refusal(ec_key.sign(live_claims(iat=NOW + 3600, exp=NOW + 7200)), keys).code == "issued_in_future"


# --- other shapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "a.b.c.d.e",
        "eyJhbGciOiJFUzI1NiJ9",
        ".e30.AAAA",
        '{"payload":"e30","signatures":[]}',
        "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
        "eyJhbGciOiJFUzI1NiJ9.e30.AAAA\x00",
        "\u200beyJhbGciOiJFUzI1NiJ9.e30.AAAA",
    ],
)
def test_not_a_compact_jws(keys, token):
    assert refusal(token, keys).code == "malformed_token"


def test_empty_payload_and_signature(keys):
    error = refusal("eyJhbGciOiJFUzI1NiJ9..", keys)
    assert error.code == "bad_signature"
    assert "no signature" in error.message


def test_the_same_text_verifies_twice_but_no_other_text_does(ec_key, keys):
    """Token strings are unique: no lax variant of a valid token verifies (replay keys on the jti anyway)."""
    token = ec_key.sign(live_claims(jti="j-1"))
    first, second = check(token, keys), check(token, keys)
    assert first.jti == second.jti == "j-1"
    for variant in [token + "=", token.replace(".", "=.", 1), " " + token.replace(".", " .", 1)]:
        assert refusal(variant, keys).code == "malformed_token"


def test_decode_survives_the_same_attacks(ec_key):
    for token in ["{" * 10_000, "e" * 10_000 + "." * 3, "A" * 20_000, b64("[" * 5000) + ".e30.AAAA"]:
        with pytest.raises(engine.VerificationError) as info:
            engine.decode(token)
        assert info.value.code in ("malformed_token", "token_too_large")


def test_base64_helper_is_standard(ec_key):
    """Guard for the helpers above: b64/unb64 are plain RFC 4648 base64url without padding."""
    assert b64(b"\xfb\xff") == "-_8"
    assert unb64("-_8") == b"\xfb\xff"
    assert base64.urlsafe_b64encode(b"\xfb\xff") == b"-_8="
