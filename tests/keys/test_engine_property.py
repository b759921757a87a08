"""Property tests: whatever comes in, engine.verify and engine.decode return a result or raise
VerificationError with a documented code; and no text but the signed one verifies.

Bounded for CI: 300 examples per property, no deadline (ECDSA and RSA verifications vary).
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import engine
from keys.engine import Policy, VerificationError
from tests.keys.test_engine import NOW, b64, candidate, live_claims, sign_raw

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DECODE_CODES = {"malformed_token", "token_too_large"}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
NASTY = ALPHABET + ".=+/ \t\n\r\x00{}[]\"'\\%?#é\u0410\u200b\ufeff"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**45), max_value=10**45)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
claim_values = st.one_of(
    json_values,
    st.integers(min_value=NOW - 10**6, max_value=NOW + 10**6),
    st.floats(min_value=NOW - 10**6, max_value=NOW + 10**6),
)


@pytest.fixture(autouse=True)
def no_internal_errors(monkeypatch):
    """The engine maps an unexpected exception to malformed_token and logs it; here that is a bug."""

    class Strict:
        def exception(self, message, *args):
            raise AssertionError(f"engine crashed inside: {message}")

    monkeypatch.setattr(engine, "log", Strict())


def outcome_of(token, keys, policy=None):
    """The engine's answer, checked against the contract: a result or a documented code, nothing else."""
    try:
        result = engine.verify(token, keys=keys, policy=policy or Policy(), now=NOW)
    except VerificationError as exc:
        assert exc.code in engine.ERROR_CODES, exc.code
        assert isinstance(exc.message, str) and 0 < len(exc.message) < 1000
        return exc.code
    labels = [f["label"] for f in result.fields]
    assert len(labels) == len(set(labels))
    assert all(set(f) == {"label", "data", "type"} for f in result.fields)
    if result.claims is not None:
        assert set(result.claims) <= set(engine.REGISTERED_CLAIMS)
        assert not set(result.claims) & set(labels)
    json.dumps({"fields": result.fields, "claims": result.claims}, ensure_ascii=False).encode()
    return "ok"


def decode_outcome(token):
    try:
        engine.decode(token)
    except VerificationError as exc:
        assert exc.code in DECODE_CODES, exc.code
        return exc.code
    return "ok"


@SETTINGS
@given(st.text(max_size=400) | st.text(alphabet=NASTY, max_size=400))
def test_arbitrary_text(ec_key, text):
    keys = [candidate(ec_key.public_pem)]
    assert outcome_of(text, keys) != "ok"
    decode_outcome(text)


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_as_text_and_as_parts(ec_key, data):
    keys = [candidate(ec_key.public_pem)]
    for token in (data.decode("latin-1"), f"{b64(data)}.{b64(data)}.{b64(data)}", f"eyJhbGciOiJFUzI1NiJ9.{b64(data)}."):
        assert outcome_of(token, keys) != "ok"
        decode_outcome(token)


def mutations():
    """Edits of a token text: each a function (token, draw) -> new token."""
    index = st.integers(min_value=0, max_value=10_000)
    return st.one_of(
        st.tuples(st.just("flip"), index, st.sampled_from(NASTY)),
        st.tuples(st.just("delete"), index, st.integers(min_value=1, max_value=8)),
        st.tuples(st.just("insert"), index, st.text(alphabet=NASTY, min_size=1, max_size=6)),
        st.tuples(st.just("cut"), index, st.just(0)),
        st.tuples(st.just("duplicate_part"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("swap_parts"), st.integers(0, 2), st.integers(0, 2)),
        st.tuples(st.just("replace_part"), st.integers(0, 2), json_values),
        st.tuples(st.just("pad"), st.integers(0, 2), st.sampled_from(["=", "==", "A", "AA", " "])),
    )


def mutate(token: str, edit) -> str:
    kind, a, b = edit
    if not token:
        return b if isinstance(b, str) else "."
    parts = token.split(".")
    if kind in ("duplicate_part", "swap_parts", "replace_part", "pad"):
        a %= len(parts)
        if kind == "swap_parts":
            b %= len(parts)
    if kind == "flip":
        i = a % len(token)
        return token[:i] + b + token[i + 1 :]
    if kind == "delete":
        i = a % len(token)
        return token[:i] + token[i + b :]
    if kind == "insert":
        i = a % (len(token) + 1)
        return token[:i] + b + token[i:]
    if kind == "cut":
        return token[: a % len(token)]
    if kind == "duplicate_part":
        return ".".join([*parts[: a + 1], parts[a], *parts[a + 1 :]])
    if kind == "swap_parts":
        parts[a], parts[b] = parts[b], parts[a]
        return ".".join(parts)
    if kind == "replace_part":
        parts[a] = b64(json.dumps(b))
        return ".".join(parts)
    parts[a] += b
    return ".".join(parts)


@SETTINGS
@given(st.data())
def test_mutations_of_real_tokens(ec_key, ec384_key, rsa_key, fields_payload, data):
    keys = [
        candidate(ec_key.public_pem, kid="ec"),
        candidate(ec384_key.public_pem, kid="ec384"),
        candidate(rsa_key.public_pem, kid="rsa"),
    ]
    originals = _originals(ec_key, ec384_key, rsa_key, fields_payload)
    token = data.draw(st.sampled_from(originals))
    assert outcome_of(token, keys) == "ok"
    mutated = token
    for edit in data.draw(st.lists(mutations(), min_size=1, max_size=3)):
        mutated = mutate(mutated, edit)
    outcome = outcome_of(mutated, keys)
    decode_outcome(mutated)
    if outcome == "ok":
        # Token strings are unique: only the signed text itself (with white space around it) verifies.
        assert mutated.strip() == token


_ORIGINALS = {}


def _originals(ec_key, ec384_key, rsa_key, fields_payload):
    if not _ORIGINALS:
        _ORIGINALS["all"] = [
            ec_key.sign(live_claims(jti="j-1"), headers={"kid": "ec"}),
            ec_key.sign(live_claims()),
            ec384_key.sign(fields_payload, headers={"kid": "ec384"}),
            rsa_key.sign(live_claims(aud=["a", "b"]), alg="RS384"),
        ]
    return _ORIGINALS["all"]


@SETTINGS
@given(
    header_extra=st.dictionaries(
        st.sampled_from(["kid", "crit", "b64", "jwk", "jku", "typ", "cty", "x5c", "zip", "enc"]),
        json_values,
        max_size=3,
    ),
    payload=st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from([*engine.REGISTERED_CLAIMS, "name", "isLoggedIn", ""]) | st.text(max_size=10),
            claim_values,
            max_size=8,
        ),
        st.lists(
            st.fixed_dictionaries(
                {"label": st.text(max_size=5) | json_values},
                optional={"data": json_values, "type": st.text(max_size=40) | json_values},
            ),
            max_size=5,
        ),
    ),
    policy=st.builds(
        Policy,
        leeway_seconds=st.integers(0, 600),
        max_token_age_seconds=st.none() | st.integers(0, 10**6),
        require_exp=st.booleans(),
        max_lifetime_seconds=st.none() | st.integers(0, 10**6),
        required_claims=st.dictionaries(
            st.sampled_from(["name", "isLoggedIn", "jti", "x"]),
            st.sampled_from(["string", "number", "boolean", "object", "array", "any", "unknown"]),
            max_size=3,
        ),
        expected_audience=st.sampled_from(["", "chat"]),
        expected_issuer=st.sampled_from(["", "shop"]),
    ),
)
def test_signed_arbitrary_headers_payloads_and_policies(ec_key, header_extra, payload, policy):
    """Everything validly signed by the registered key: claims and shape rules never crash."""
    keys = [candidate(ec_key.public_pem, kid="ec")]
    token = sign_raw(ec_key, {"alg": "ES256", **header_extra}, json.dumps(payload))
    outcome = outcome_of(token, keys, policy)
    if outcome != "ok":
        assert outcome != "bad_signature" or "kid" in header_extra
    decode_outcome(token)
