"""keys/engine.py, database-free: format, key choice, payload shapes, claims and messages.

Tokens come from PyJWT (conftest KeyPair.sign) or, when a test needs bytes no
library would produce (duplicate members, odd headers), from `sign_raw`, which
signs with `cryptography` directly. Never from our own JOSE code.
"""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys import engine, jose
from keys.engine import CandidateKey, Policy, VerificationError
from tests.conftest import KeyPair

NOW = 1_800_000_000  # 2027-01-15 08:00:00 UTC
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


# --- helpers shared with the other engine test files -------------------------


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def candidate(pem: str, kid: str = "site-1", status: str = "active", detail: str = "") -> CandidateKey:
    verifier = jose.load_verifier(pem)
    return CandidateKey(
        kid=kid,
        status=status,
        verifier=verifier,
        fingerprint_sha256=verifier.facts.fingerprint_sha256,
        status_detail=detail,
    )


def raw_signature(private_key, alg: str, signing_input: bytes) -> bytes:
    """A JWS signature made with `cryptography` alone (ECDSA converted from DER to R‖S)."""
    digest = HASHES[alg[2:]]()
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(digest)))
        size = (private_key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    assert isinstance(private_key, rsa.RSAPrivateKey)
    return private_key.sign(signing_input, padding.PKCS1v15(), digest)


def sign_raw(keypair, header: bytes | str | dict, payload: bytes | str | dict | list, alg: str | None = None) -> str:
    """Sign exact header/payload bytes (dicts and lists are JSON-encoded compactly)."""
    alg = alg or keypair.alg
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":"))
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload, separators=(",", ":"))
    signing_input = f"{b64(header)}.{b64(payload)}"
    return f"{signing_input}.{b64(raw_signature(keypair.private_key, alg, signing_input.encode()))}"


def compact(header: str, payload: str, signature: str = "AAAA") -> str:
    """A token from texts, unsigned (for decode and format tests)."""
    return f"{b64(header)}.{b64(payload)}.{signature}"


def check(token, keys, *, policy=None, now=NOW):
    return engine.verify(token, keys=keys, policy=policy or Policy(), now=now)


def refusal(token, keys, *, policy=None, now=NOW) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        check(token, keys, policy=policy, now=now)
    assert info.value.code in engine.ERROR_CODES
    return info.value


def live_claims(**extra):
    body = {"name": "Jane Doe", "isLoggedIn": True, "customerId": 124, "iat": NOW - 5, "exp": NOW + 600}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


# --- happy paths --------------------------------------------------------------


def test_claims_object_becomes_fields_in_signed_order_and_registered_claims(ec_key):
    payload = {
        "iss": "shop",
        "name": "Jane Doe",
        "iat": NOW - 5,
        "isLoggedIn": True,
        "customerId": 124,
        "exp": NOW + 600,
        "score": 1.5,
        "nothing": None,
        "cart": [{"sku": "a"}],
        "jti": "j-1",
    }
    token = ec_key.sign(payload, headers={"kid": "site-1"})
    result = check(token, [candidate(ec_key.public_pem)])
    assert result.kid == "site-1"
    assert result.alg == "ES256"
    assert result.payload_format == "claims"
    assert result.claims == {"iss": "shop", "iat": NOW - 5, "exp": NOW + 600, "jti": "j-1"}
    assert list(result.claims) == ["iss", "iat", "exp", "jti"]
    assert result.fields == [
        {"label": "name", "data": "Jane Doe", "type": "string"},
        {"label": "isLoggedIn", "data": True, "type": "boolean"},
        {"label": "customerId", "data": 124, "type": "number"},
        {"label": "score", "data": 1.5, "type": "number"},
        {"label": "nothing", "data": None, "type": "null"},
        {"label": "cart", "data": [{"sku": "a"}], "type": "json"},
    ]
    assert result.jti == "j-1"
    assert result.exp == NOW + 600
    assert result.payload == payload
    assert result.payload_bytes == len(unb64(token.split(".")[1]))


def test_fields_array_keeps_order_and_own_types_drops_extra_members(ec_key, fields_payload):
    fields_payload.append({"label": "note", "data": {"a": 1}, "extra": "ignored"})
    fields_payload.append({"label": "vip", "data": True, "type": "flag"})
    result = check(ec_key.sign(fields_payload), [candidate(ec_key.public_pem)])
    assert result.payload_format == "fields"
    assert result.claims is None
    assert result.jti is None and result.exp is None
    assert [f["label"] for f in result.fields] == ["name", "customer_id", "logged_in", "note", "vip"]
    assert result.fields[3] == {"label": "note", "data": {"a": 1}, "type": "json"}  # type defaults to json_type(data)
    assert result.fields[4]["type"] == "flag"


@pytest.mark.parametrize("payload", [[], {}])
def test_empty_array_or_object_is_zero_fields(ec_key, payload):
    result = check(sign_raw(ec_key, {"alg": "ES256"}, payload), [candidate(ec_key.public_pem)])
    assert result.fields == []


@pytest.mark.parametrize("fixture", ["ec_key", "ec384_key", "rsa_key"])
def test_each_key_type_verifies(request, fixture):
    keypair = request.getfixturevalue(fixture)
    result = check(keypair.sign(live_claims()), [candidate(keypair.public_pem)])
    assert result.alg == keypair.alg


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_rsa_key_verifies_all_three_rs_algorithms(rsa_key, alg):
    assert check(rsa_key.sign(live_claims(), alg=alg), [candidate(rsa_key.public_pem)]).alg == alg


def test_white_space_around_the_token_is_stripped(ec_key):
    token = ec_key.sign(live_claims())
    assert check(f" \n\t{token}\r\n ", [candidate(ec_key.public_pem)]).alg == "ES256"


@pytest.mark.parametrize("where", [10, -10])
def test_white_space_inside_the_token_is_malformed(ec_key, where):
    token = ec_key.sign(live_claims())
    error = refusal(token[:where] + " " + token[where:], [candidate(ec_key.public_pem)])
    assert error.code == "malformed_token"
    assert "white space" in error.message


# --- size ------------------------------------------------------------------


def test_size_limit_is_checked_first_and_inclusive(ec_key):
    token = ec_key.sign(live_claims())
    keys = [candidate(ec_key.public_pem)]
    assert check(token, keys, policy=Policy(max_token_bytes=len(token))).alg == "ES256"
    error = refusal(token, keys, policy=Policy(max_token_bytes=len(token) - 1))
    assert error.code == "token_too_large"
    assert f"{len(token)} bytes" in error.message
    # size comes before format: junk that is too large is too large, not malformed
    assert refusal("é" * 9000, keys).code == "token_too_large"


def test_non_string_token_is_malformed(ec_key):
    for value in (None, b"a.b.c", 12, ["a"]):
        assert refusal(value, [candidate(ec_key.public_pem)]).code == "malformed_token"


# --- key choice --------------------------------------------------------------


def test_kid_selects_exactly_that_key(ec_key, ec_key_2):
    keys = [candidate(ec_key_2.public_pem, kid="other"), candidate(ec_key.public_pem, kid="site-1")]
    assert check(ec_key.sign(live_claims(), headers={"kid": "site-1"}), keys).kid == "site-1"
    # the right key under the wrong kid does not verify
    error = refusal(ec_key.sign(live_claims(), headers={"kid": "other"}), keys)
    assert error.code == "bad_signature"
    assert "'other'" in error.message


def test_unknown_kid_lists_at_most_five_active_kids(ec_key):
    keys = [candidate(ec_key.public_pem, kid=f"k{i}") for i in range(8)]
    keys.append(candidate(ec_key.public_pem, kid="old", status="revoked"))
    error = refusal(ec_key.sign(live_claims(), headers={"kid": "abc"}), keys)
    assert error.code == "unknown_key"
    assert "kid 'abc' is not registered on this widget; its active kids are 'k0', 'k1', 'k2', 'k3', 'k4'" in (
        error.message
    )
    assert "and 3 more" in error.message
    assert "'old'" not in error.message


def test_unknown_kid_hints_at_a_case_mismatch(ec_key):
    error = refusal(ec_key.sign(live_claims(), headers={"kid": "SITE-1"}), [candidate(ec_key.public_pem)])
    assert error.code == "unknown_key"
    assert "did you mean 'site-1'" in error.message


def test_unknown_kid_on_a_widget_without_keys(ec_key):
    error = refusal(ec_key.sign(live_claims(), headers={"kid": "abc"}), [])
    assert error.code == "unknown_key"
    assert "no active key" in error.message


@pytest.mark.parametrize("status", ["revoked", "expired"])
def test_kid_of_a_revoked_or_expired_key(ec_key, status):
    keys = [candidate(ec_key.public_pem, status=status, detail=f"{status} at 2026-11-01 12:00 UTC")]
    error = refusal(ec_key.sign(live_claims(), headers={"kid": "site-1"}), keys)
    assert error.code == "revoked_key"
    assert f"{status} at 2026-11-01 12:00 UTC" in error.message


def test_alg_must_fit_the_key_of_the_kid(ec_key, ec384_key, rsa_key):
    keys = [candidate(ec_key.public_pem, kid="p256"), candidate(rsa_key.public_pem, kid="rsa")]
    error = refusal(sign_raw(ec384_key, {"alg": "ES384", "kid": "p256"}, live_claims()), keys)
    assert error.code == "unsupported_algorithm"
    assert "alg ES384 does not fit this P-256 key (ES256)" in error.message
    error = refusal(sign_raw(ec_key, {"alg": "ES256", "kid": "rsa"}, live_claims()), keys)
    assert error.code == "unsupported_algorithm"
    assert "2048-bit RSA key (RS256, RS384 or RS512)" in error.message


def test_without_kid_the_active_key_that_verifies_is_chosen(ec_key, ec_key_2, rsa_key):
    keys = [
        candidate(rsa_key.public_pem, kid="rsa"),
        candidate(ec_key_2.public_pem, kid="two"),
        candidate(ec_key.public_pem, kid="one"),
    ]
    assert check(ec_key.sign(live_claims()), keys).kid == "one"
    assert check(rsa_key.sign(live_claims()), keys).kid == "rsa"


def test_without_kid_and_no_active_key(ec_key):
    error = refusal(ec_key.sign(live_claims()), [])
    assert error.code == "unknown_key"
    assert "No active key is registered on this widget" in error.message


def test_without_kid_only_revoked_keys_that_verify(ec_key, ec_key_2):
    keys = [candidate(ec_key.public_pem, status="revoked", detail="revoked at 2026-11-01 12:00 UTC")]
    error = refusal(ec_key.sign(live_claims()), keys)
    assert error.code == "revoked_key"
    # a revoked key that does NOT verify does not make the answer revoked_key
    error = refusal(ec_key_2.sign(live_claims()), keys)
    assert error.code == "unknown_key"


def test_without_kid_a_revoked_key_verifies_while_active_ones_do_not(ec_key, ec_key_2):
    keys = [candidate(ec_key_2.public_pem, kid="new"), candidate(ec_key.public_pem, kid="old", status="expired")]
    error = refusal(ec_key.sign(live_claims()), keys)
    assert error.code == "revoked_key"
    assert "'old'" in error.message


def test_without_kid_no_active_key_of_that_algorithm(ec_key, rsa_key, ec384_key):
    keys = [candidate(ec_key.public_pem, kid="ec")]
    error = refusal(rsa_key.sign(live_claims()), keys)
    assert error.code == "unsupported_algorithm"
    assert "RS256 fits none of this widget's active keys" in error.message
    assert "P-256 key (ES256)" in error.message
    assert refusal(ec384_key.sign(live_claims()), keys).code == "unsupported_algorithm"


def test_without_kid_nothing_verifies(ec_key, ec_key_2):
    error = refusal(ec_key.sign(live_claims()), [candidate(ec_key_2.public_pem)])
    assert error.code == "bad_signature"
    assert "does not verify" in error.message


class CountingVerifier:
    """Wraps a VerifierKey to count signature checks (key trials must be bounded)."""

    def __init__(self, inner, counter):
        self.inner, self.counter = inner, counter

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def verify_signature(self, alg, signing_input, signature):
        self.counter.append(1)
        return self.inner.verify_signature(alg, signing_input, signature)


def test_without_kid_at_most_ten_keys_are_tried(ec_key, ec_key_2):
    calls = []
    decoys = [
        CandidateKey(
            kid=f"k{i}",
            status="active",
            verifier=CountingVerifier(jose.load_verifier(ec_key_2.public_pem), calls),
            fingerprint_sha256="",
        )
        for i in range(11)
    ]
    keys = [*decoys, candidate(ec_key.public_pem, kid="signer")]
    error = refusal(ec_key.sign(live_claims()), keys)
    assert error.code == "bad_signature"
    assert "add a 'kid' header" in error.message
    assert len(calls) == 10
    assert check(ec_key.sign(live_claims(), headers={"kid": "signer"}), keys).kid == "signer"


@pytest.mark.parametrize("kid", [None, "", 12, ["a"], {"a": 1}, "x" * 201])
def test_kid_must_be_a_short_non_empty_string(ec_key, kid):
    error = refusal(sign_raw(ec_key, {"alg": "ES256", "kid": kid}, live_claims()), [candidate(ec_key.public_pem)])
    assert error.code == "malformed_token"
    assert "'kid'" in error.message


def test_kid_of_200_characters_is_fine(ec_key):
    kid = "k" * 200
    token = sign_raw(ec_key, {"alg": "ES256", "kid": kid}, live_claims())
    assert check(token, [candidate(ec_key.public_pem, kid=kid)]).kid == kid


# --- header -------------------------------------------------------------------


def test_header_without_alg_or_with_non_string_alg(ec_key):
    keys = [candidate(ec_key.public_pem)]
    assert refusal(sign_raw(ec_key, {"typ": "JWT"}, live_claims()), keys).code == "malformed_token"
    assert refusal(sign_raw(ec_key, {"alg": ["ES256"]}, live_claims()), keys).code == "malformed_token"
    assert refusal(sign_raw(ec_key, {"alg": None}, live_claims()), keys).code == "malformed_token"


@pytest.mark.parametrize("header", ["[]", '"ES256"', "1", "null"])
def test_header_must_be_an_object(ec_key, header):
    error = refusal(sign_raw(ec_key, header, live_claims()), [candidate(ec_key.public_pem)])
    assert error.code == "malformed_token"
    assert "header" in error.message


@pytest.mark.parametrize(
    ("alg", "words"),
    [
        ("es256", "case-sensitive"),
        ("PS256", "RSA-PSS"),
        ("EdDSA", "not supported"),
        ("ES256K", "not supported"),
        ("HS512", "shared-secret"),
        ("", "not supported"),
    ],
)
def test_unsupported_algorithms_say_why(ec_key, alg, words):
    error = refusal(sign_raw(ec_key, {"alg": alg}, live_claims(), alg="ES256"), [candidate(ec_key.public_pem)])
    assert error.code == "unsupported_algorithm"
    assert words in error.message


def test_typ_and_other_headers_are_ignored(ec_key):
    token = sign_raw(ec_key, {"alg": "ES256", "typ": "at+jwt", "cty": "x", "x-custom": [1]}, live_claims())
    assert check(token, [candidate(ec_key.public_pem)]).header["typ"] == "at+jwt"


# --- payload ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"Payload", "not JSON"),
        (b"", "empty"),
        (b'"a string"', "JSON string"),
        (b"12", "JSON number"),
        (b"true", "JSON boolean"),
        (b"null", "JSON null"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": 1e400}', "too large"),
        (b'{"a": ' + b"9" * 41 + b"}", "40 digits"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b"\xef\xbb\xbf{}", "not JSON"),  # BOM
        (b"[" * 33 + b"]" * 33, "deeper than 32"),
    ],
)
def test_payload_problems_are_invalid_payload(ec_key, payload, words):
    error = refusal(sign_raw(ec_key, {"alg": "ES256"}, payload), [candidate(ec_key.public_pem)])
    assert error.code == "invalid_payload"
    assert words.lower() in error.message.lower()


def test_integer_of_40_digits_and_depth_32_are_fine(ec_key):
    keys = [candidate(ec_key.public_pem)]
    assert check(sign_raw(ec_key, {"alg": "ES256"}, b'{"a": ' + b"9" * 40 + b"}"), keys).fields[0]["data"] == int(
        "9" * 40
    )
    deep = b'{"a":' + b"[" * 31 + b"]" * 31 + b"}"
    assert check(sign_raw(ec_key, {"alg": "ES256"}, deep), keys).fields[0]["type"] == "json"
    # brackets inside strings do not count
    strings = json.dumps({"a": "[" * 100 + "{" * 100, "b": '\\"[[[['}).encode()
    assert check(sign_raw(ec_key, {"alg": "ES256"}, strings), keys).fields[0]["data"] == "[" * 100 + "{" * 100


def test_valid_surrogate_pair_is_fine(ec_key):
    token = sign_raw(ec_key, {"alg": "ES256"}, b'{"emoji": "\\ud83d\\ude00"}')
    assert check(token, [candidate(ec_key.public_pem)]).fields[0]["data"] == "\U0001f600"


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ([1], "Field 0 of the payload is a JSON number"),
        ([{"data": 1}], "needs a 'label'"),
        ([{"label": "", "data": 1}], "needs a 'label'"),
        ([{"label": 5, "data": 1}], "needs a 'label'"),
        ([{"label": "x" * 101, "data": 1}], "needs a 'label'"),
        ([{"label": "a"}], "has no 'data'"),
        ([{"label": "a", "data": 1, "type": 5}], "'type'"),
        ([{"label": "a", "data": 1, "type": ""}], "'type'"),
        ([{"label": "a", "data": 1, "type": "t" * 33}], "'type'"),
        ([{"label": "a", "data": 1}, {"label": "a", "data": 2}], "appears twice"),
        ({"": 1}, "cannot be a field"),
        ({"x" * 101: 1}, "cannot be a field"),
    ],
)
def test_field_shape_problems(ec_key, payload, words):
    error = refusal(sign_raw(ec_key, {"alg": "ES256"}, payload), [candidate(ec_key.public_pem)])
    assert error.code == "invalid_payload"
    assert words in error.message


def test_label_of_100_characters_and_null_data_are_fine(ec_key):
    token = sign_raw(ec_key, {"alg": "ES256"}, [{"label": "x" * 100, "data": None, "type": "t" * 32}])
    assert check(token, [candidate(ec_key.public_pem)]).fields[0]["data"] is None


def test_signature_is_checked_before_any_payload_or_claim_problem(ec_key, ec_key_2):
    keys = [candidate(ec_key.public_pem)]
    for payload in (b"not json", live_claims(exp=NOW - 3600), [{"label": "a"}], live_claims(exp="soon")):
        token = sign_raw(ec_key_2, {"alg": "ES256"}, payload)  # signed by a key the widget does not know
        assert refusal(token, keys).code == "bad_signature"


# --- claims: types -----------------------------------------------------------


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1800000000", "got a string '1800000000'"),
        (True, "got a boolean"),
        (None, "got null"),
        ([NOW], "got an array"),
        ({"t": NOW}, "got an object"),
        (-1, "between 0 and 1e11"),
        (1e11, "between 0 and 1e11"),
        (NOW * 1000, "milliseconds"),
        (10**39, "between 0 and 1e11"),
        (1e300, "between 0 and 1e11"),
    ],
)
def test_numeric_dates_must_be_numbers_in_range(ec_key, name, value, words):
    body = live_claims()
    body[name] = value
    error = refusal(sign_raw(ec_key, {"alg": "ES256"}, body), [candidate(ec_key.public_pem)])
    assert error.code == "invalid_claim"
    assert f"{name} must be a NumericDate (seconds since 1970)" in error.message
    assert words in error.message


def test_numeric_dates_may_be_fractional(ec_key):
    token = sign_raw(ec_key, {"alg": "ES256"}, live_claims(exp=NOW + 10.5, iat=NOW - 0.25, nbf=0))
    assert check(token, [candidate(ec_key.public_pem)]).claims["exp"] == NOW + 10.5


@pytest.mark.parametrize("jti", ["", "x" * 257, 5, None, ["a"], "a\x00b", "a\nb"])
def test_jti_must_be_a_sane_string(ec_key, jti):
    body = live_claims()
    body["jti"] = jti
    error = refusal(sign_raw(ec_key, {"alg": "ES256"}, body), [candidate(ec_key.public_pem)])
    assert error.code == "invalid_claim"
    assert error.message.startswith("jti must be a string of 1 to 256 characters")


def test_jti_of_256_characters_is_fine(ec_key):
    token = sign_raw(ec_key, {"alg": "ES256"}, live_claims(jti="j" * 256))
    assert check(token, [candidate(ec_key.public_pem)]).jti == "j" * 256


@pytest.mark.parametrize(
    ("name", "value"),
    [("iss", 5), ("sub", None), ("sub", ["a"]), ("aud", 5), ("aud", ["a", 1]), ("aud", {"a": 1})],
)
def test_iss_sub_aud_types(ec_key, name, value):
    body = live_claims()
    body[name] = value
    error = refusal(sign_raw(ec_key, {"alg": "ES256"}, body), [candidate(ec_key.public_pem)])
    assert error.code == "invalid_claim"
    assert error.message.startswith(name)


# --- claims: time ------------------------------------------------------------


def test_expired_message_and_leeway(ec_key):
    keys = [candidate(ec_key.public_pem)]
    exp = NOW - 312
    error = refusal(ec_key.sign(live_claims(exp=exp, iat=exp - 600)), keys)
    assert error.code == "expired"
    assert "expired 5 min 12 s ago (exp 07:54:48 UTC, leeway 60 s)" in error.message
    # inside the leeway: accepted; exactly at exp + leeway: still accepted
    assert check(ec_key.sign(live_claims(exp=NOW - 59, iat=NOW - 600)), keys)
    assert check(ec_key.sign(live_claims(exp=NOW - 60, iat=NOW - 600)), keys)
    assert refusal(ec_key.sign(live_claims(exp=NOW - 61, iat=NOW - 600)), keys).code == "expired"
    assert check(ec_key.sign(live_claims(exp=NOW - 61, iat=NOW - 600)), keys, policy=Policy(leeway_seconds=120))


def test_expired_long_ago_shows_the_date(ec_key):
    error = refusal(ec_key.sign(live_claims(exp=1300819380, iat=None)), [candidate(ec_key.public_pem)])
    assert "(exp 2011-03-22 18:43:00 UTC" in error.message


def test_not_yet_valid(ec_key):
    keys = [candidate(ec_key.public_pem)]
    error = refusal(ec_key.sign(live_claims(nbf=NOW + 600)), keys)
    assert error.code == "not_yet_valid"
    assert "10 min 0 s from now" in error.message
    assert check(ec_key.sign(live_claims(nbf=NOW + 60)), keys)


def test_issued_in_future(ec_key):
    keys = [candidate(ec_key.public_pem)]
    error = refusal(ec_key.sign(live_claims(iat=NOW + 3600, exp=NOW + 4000)), keys)
    assert error.code == "issued_in_future"
    assert "1 h 0 min in the future" in error.message
    assert check(ec_key.sign(live_claims(iat=NOW + 60)), keys)


def test_max_token_age(ec_key, fields_payload):
    keys = [candidate(ec_key.public_pem)]
    policy = Policy(max_token_age_seconds=300)
    assert check(ec_key.sign(live_claims(iat=NOW - 300 - 60)), keys, policy=policy)
    error = refusal(ec_key.sign(live_claims(iat=NOW - 3600, exp=NOW + 60)), keys, policy=policy)
    assert error.code == "expired"
    assert "issued 1 h 0 min ago; this widget accepts tokens at most 5 min 0 s old" in error.message
    error = refusal(ec_key.sign(live_claims(iat=None)), keys, policy=policy)
    assert error.code == "missing_claim"
    assert "'iat'" in error.message
    error = refusal(ec_key.sign(fields_payload), keys, policy=policy)
    assert error.code == "missing_claim"
    assert "a fields array cannot carry iat" in error.message


def test_require_exp(ec_key, fields_payload):
    keys = [candidate(ec_key.public_pem)]
    policy = Policy(require_exp=True)
    error = refusal(ec_key.sign(live_claims(exp=None)), keys, policy=policy)
    assert error.code == "missing_claim"
    assert "'exp'" in error.message
    error = refusal(ec_key.sign(fields_payload), keys, policy=policy)
    assert error.code == "missing_claim"
    assert "a fields array cannot carry exp" in error.message
    assert check(ec_key.sign(live_claims()), keys, policy=policy)
    assert check(ec_key.sign(live_claims(exp=None)), keys)  # not required by default


def test_lifetime_too_long(ec_key):
    keys = [candidate(ec_key.public_pem)]
    policy = Policy(max_lifetime_seconds=3600)
    error = refusal(ec_key.sign(live_claims(iat=NOW, exp=NOW + 7200)), keys, policy=policy)
    assert error.code == "lifetime_too_long"
    assert "valid for 2 h 0 min (from iat to exp); this widget accepts at most 1 h 0 min" in error.message
    error = refusal(ec_key.sign(live_claims(iat=None, exp=NOW + 7200)), keys, policy=policy)
    assert error.code == "lifetime_too_long"
    assert "from now to exp" in error.message
    assert check(ec_key.sign(live_claims(iat=NOW, exp=NOW + 3600)), keys, policy=policy)
    # the default policy allows a day; None disables the check
    assert refusal(ec_key.sign(live_claims(iat=NOW, exp=NOW + 86401)), keys).code == "lifetime_too_long"
    assert check(ec_key.sign(live_claims(iat=NOW, exp=NOW + 10**9)), keys, policy=Policy(max_lifetime_seconds=None))


# --- claims: issuer, audience, required claims ------------------------------


def test_expected_issuer(ec_key, fields_payload):
    keys = [candidate(ec_key.public_pem)]
    policy = Policy(expected_issuer="https://shop.example")
    assert check(ec_key.sign(live_claims(iss="https://shop.example")), keys, policy=policy)
    error = refusal(ec_key.sign(live_claims(iss="https://evil.example")), keys, policy=policy)
    assert error.code == "invalid_issuer"
    assert "'https://evil.example'" in error.message
    assert refusal(ec_key.sign(live_claims()), keys, policy=policy).code == "missing_claim"
    assert refusal(ec_key.sign(fields_payload), keys, policy=policy).code == "missing_claim"


def test_expected_audience(ec_key):
    keys = [candidate(ec_key.public_pem)]
    policy = Policy(expected_audience="chat")
    assert check(ec_key.sign(live_claims(aud="chat")), keys, policy=policy)
    assert check(ec_key.sign(live_claims(aud=["other", "chat"])), keys, policy=policy)
    error = refusal(ec_key.sign(live_claims(aud=["other"])), keys, policy=policy)
    assert error.code == "invalid_audience"
    assert "'chat'" in error.message
    assert refusal(ec_key.sign(live_claims(aud=[])), keys, policy=policy).code == "invalid_audience"
    assert refusal(ec_key.sign(live_claims(aud="chat2")), keys, policy=policy).code == "invalid_audience"
    assert refusal(ec_key.sign(live_claims()), keys, policy=policy).code == "missing_claim"
    # aud is not checked when the widget expects none
    assert check(ec_key.sign(live_claims(aud="anything")), keys)


def test_required_claims_of_a_claims_object(ec_key):
    keys = [candidate(ec_key.public_pem)]
    policy = Policy(required_claims={"isLoggedIn": "boolean", "customerId": "number", "name": "any"})
    assert check(ec_key.sign(live_claims()), keys, policy=policy)
    error = refusal(ec_key.sign(live_claims(isLoggedIn=None)), keys, policy=policy)
    assert error.code == "missing_claim"
    assert "claim 'isLoggedIn' is required by this widget" in error.message
    error = refusal(ec_key.sign(live_claims(isLoggedIn="yes")), keys, policy=policy)
    assert error.code == "invalid_claim"
    assert "'isLoggedIn' must be a boolean; got a string 'yes'" in error.message
    # a number is not a boolean and a boolean is not a number
    assert refusal(ec_key.sign(live_claims(customerId=True)), keys, policy=policy).code == "invalid_claim"
    for kind, good, bad in [("string", "a", 1), ("object", {}, []), ("array", [], {})]:
        policy = Policy(required_claims={"x": kind})
        assert check(ec_key.sign(live_claims(x=good)), keys, policy=policy)
        assert refusal(ec_key.sign(live_claims(x=bad)), keys, policy=policy).code == "invalid_claim"
    # registered claims can be required too
    assert refusal(ec_key.sign(live_claims()), keys, policy=Policy(required_claims={"jti": "string"})).code == (
        "missing_claim"
    )


def test_required_claims_of_a_fields_array_are_labels(ec_key, fields_payload):
    keys = [candidate(ec_key.public_pem)]
    assert check(ec_key.sign(fields_payload), keys, policy=Policy(required_claims={"logged_in": "boolean"}))
    error = refusal(ec_key.sign(fields_payload), keys, policy=Policy(required_claims={"logged_in": "string"}))
    assert error.code == "invalid_claim"
    error = refusal(ec_key.sign(fields_payload), keys, policy=Policy(required_claims={"email": "any"}))
    assert error.code == "missing_claim"
    assert "field label 'email' is required by this widget" in error.message


# --- messages ----------------------------------------------------------------


def test_messages_never_echo_much_attacker_input_nor_key_material(ec_key, rsa_key):
    keys = [candidate(ec_key.public_pem), candidate(rsa_key.public_pem, kid="rsa")]
    huge = "A" * 5000
    tokens = [
        sign_raw(ec_key, {"alg": huge}, live_claims()),
        sign_raw(ec_key, {"alg": "ES256", "kid": huge[:200]}, live_claims()),
        sign_raw(ec_key, {"alg": "ES256"}, live_claims(iss=huge)),
        sign_raw(ec_key, {"alg": "ES256"}, {huge: 1}),
        sign_raw(ec_key, {"alg": "ES256"}, live_claims(exp=huge)),
        sign_raw(ec_key, {"alg": "ES256"}, live_claims(jti=huge)),
        sign_raw(ec_key, {"alg": "ES256"}, [{"label": huge, "data": 1}]),
        sign_raw(ec_key, {"alg": "ES256"}, '{"' + huge + '": 1, "' + huge + '": 2}'),
    ]
    policy = Policy(expected_issuer="shop", required_claims={huge: "string"})
    public_material = [c.verifier.facts.jwk[m] for c in keys for m in ("x", "y", "n") if m in c.verifier.facts.jwk]
    for token in tokens:
        error = refusal(token, keys, policy=policy)
        assert "A" * 65 not in error.message, error.message
        assert len(error.message) < 400, error.message
        assert "BEGIN" not in error.message
        assert not any(part[:20] in error.message for part in public_material)


def test_every_message_is_one_sentence(ec_key):
    keys = [candidate(ec_key.public_pem)]
    for token in ["", "a.b", "a.b.c", ec_key.sign(live_claims(exp=NOW - 999))]:
        message = refusal(token, keys).message
        assert message.endswith("."), message
        assert "\n" not in message


# --- decode -----------------------------------------------------------------------


def test_decode_parses_without_any_key(ec_key):
    token = ec_key.sign(live_claims(), headers={"kid": "site-1"})
    decoded = engine.decode(token)
    assert decoded.alg == "ES256"
    assert decoded.kid == "site-1"
    assert decoded.header == {"alg": "ES256", "kid": "site-1", "typ": "JWT"}
    assert decoded.payload == live_claims()
    assert decoded.payload_bytes == len(unb64(token.split(".")[1]))


def test_decode_shows_what_verify_refuses(ec_key):
    # decode is format only: alg none, crit or a bad signature are for verify to refuse
    token = compact('{"alg":"none","crit":[],"kid":5}', "[1]")
    decoded = engine.decode(token)
    assert decoded.alg == "none"
    assert decoded.kid is None
    assert decoded.payload == [1]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b.c.d.e",
        compact("{}", "{}", "AA="),
        compact('{"a":1,"a":2}', "{}"),
        compact("[1]", "{}"),
        compact("{}", "not json"),
        compact("{}", "[" * 40 + "]" * 40),
    ],
)
def test_decode_refuses_format_problems_only_as_malformed(token):
    with pytest.raises(VerificationError) as info:
        engine.decode(token)
    assert info.value.code == "malformed_token"


def test_decode_size_limit():
    with pytest.raises(VerificationError) as info:
        engine.decode("a" * 101, max_bytes=100)
    assert info.value.code == "token_too_large"


# --- the real clock ------------------------------------------------------------


def test_conftest_claims_verify_now(ec_key, claims):
    result = engine.verify(ec_key.sign(claims()), keys=[candidate(ec_key.public_pem)], policy=Policy(), now=time.time())
    assert [f["label"] for f in result.fields] == ["name", "isLoggedIn", "email", "customerId"]
    assert set(result.claims) == {"iat", "exp", "jti", "sub"}


@pytest.mark.parametrize("status", ["revoked", "expired"])
def test_without_kid_the_only_key_of_that_algorithm_is_inactive(ec_key, ec384_key, status):
    # API.md: revoked_key when "the matching key is revoked or past its expires_at", even while the widget
    # has active keys of other algorithms (it was unsupported_algorithm).
    keys = [candidate(ec_key.public_pem, kid="p256"), candidate(ec384_key.public_pem, kid="p384", status=status)]
    error = refusal(ec384_key.sign(live_claims()), keys)
    assert error.code == "revoked_key"
    assert f"'p384' that signed this token is {status}" in error.message
    # an inactive key of that algorithm that does not verify leaves the answer as it was
    stranger = KeyPair(ec.generate_private_key(ec.SECP384R1()), "ES384")
    assert refusal(stranger.sign(live_claims()), keys).code == "unsupported_algorithm"
