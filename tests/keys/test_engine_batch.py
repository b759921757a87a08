"""engine.verify_many: the same answer as engine.verify for every token, stage by stage."""

import json

import pytest

from keys import engine, jose
from keys.engine import Policy, VerificationError
from tests.keys.test_engine import NOW, b64, candidate, sign_raw


def outcome(result):
    """Comparable form of a result: the verified content, or the refusal's code and message."""
    if isinstance(result, VerificationError):
        return ("refused", result.code, result.message)
    return ("verified", result.kid, result.alg, result.payload_format, result.fields, result.claims)


@pytest.fixture
def mixed(ec_key, ec_key_2, rsa_key):
    header = {"alg": "ES256", "kid": "site-1"}
    fields = [{"label": "name", "data": "Jane", "type": "string"}]
    good = ec_key.sign({"name": "Jane", "iat": NOW, "exp": NOW + 60}, headers={"kid": "site-1"})
    return [
        good,
        sign_raw(ec_key, header, fields),  # a fields array
        ec_key_2.sign({"name": "Mallory"}, headers={"kid": "site-1"}),  # bad_signature
        ec_key.sign({"name": "Jane"}, headers={"kid": "nope"}),  # unknown_key
        b64(json.dumps({"alg": "none"})) + "." + b64("{}") + ".",  # unsupported_algorithm
        "not.a.token!",  # malformed_token
        ec_key.sign({"name": "Jane", "exp": NOW - 3600}, headers={"kid": "site-1"}),  # expired
        sign_raw(ec_key, header, '"a string"'),  # invalid_payload
        rsa_key.sign({"name": "Jane"}, headers={"kid": "site-1"}),  # RS256 against an EC key
        "x" * 20_000,  # token_too_large
        None,  # not a string
        good,  # the same token again: no replay state in the engine
    ]


def test_each_token_gets_exactly_what_verify_gives(mixed, ec_key):
    keys = [candidate(ec_key.public_pem)]
    singles = []
    for token in mixed:
        try:
            singles.append(outcome(engine.verify(token, keys=keys, policy=Policy(), now=NOW)))
        except VerificationError as exc:
            singles.append(outcome(exc))
    batch = [outcome(r) for r in engine.verify_many(mixed, keys=keys, policy=Policy(), now=NOW)]
    assert batch == singles
    codes = [s[1] if s[0] == "refused" else "ok" for s in singles]
    assert codes == [
        "ok",
        "ok",
        "bad_signature",
        "unknown_key",
        "unsupported_algorithm",
        "malformed_token",
        "expired",
        "invalid_payload",
        "unsupported_algorithm",
        "token_too_large",
        "malformed_token",
        "ok",
    ]


def test_an_unexpected_error_fails_only_its_own_token_closed(mixed, ec_key, monkeypatch, caplog):
    real = engine._check_claims

    def broken_for_one(claims, payload, fields, policy, now):
        if isinstance(payload, list):
            raise RuntimeError("a bug")
        return real(claims, payload, fields, policy, now)

    monkeypatch.setattr(engine, "_check_claims", broken_for_one)
    results = engine.verify_many(mixed[:3], keys=[candidate(ec_key.public_pem)], policy=Policy(), now=NOW)
    assert outcome(results[0])[0] == "verified"
    assert (results[1].code, results[1].message) == (
        "malformed_token",
        "The token could not be processed as a compact JWS.",
    )
    assert results[2].code == "bad_signature"
    assert "unexpected error while verifying a token" in caplog.text


def test_signatures_are_checked_back_to_back_before_any_payload_is_read(mixed, ec_key, monkeypatch):
    events = []
    real_signature, real_parse = jose.VerifierKey.verify_signature, engine._parse_json

    def signature(self, *args):
        events.append("signature")
        return real_signature(self, *args)

    def parse(raw, what, code):
        if what == "payload":
            events.append("payload")
        return real_parse(raw, what, code)

    monkeypatch.setattr(jose.VerifierKey, "verify_signature", signature)
    monkeypatch.setattr(engine, "_parse_json", parse)
    engine.verify_many(mixed, keys=[candidate(ec_key.public_pem)], policy=Policy(), now=NOW)
    first_payload = events.index("payload")
    assert events.count("signature") >= 4
    assert "signature" not in events[first_payload:]


def test_no_tokens_no_results(ec_key):
    assert engine.verify_many([], keys=[candidate(ec_key.public_pem)], policy=Policy(), now=NOW) == []


def test_refusals_leave_no_reference_cycles(mixed, ec_key):
    # A kept traceback would hold verify_many's frame, and with it the whole batch, until a full collection.
    import gc

    keys = [candidate(ec_key.public_pem)]
    refused = [t for t in mixed if t is not None][2:10] * 10
    gc.collect()
    gc.disable()
    try:
        results = engine.verify_many(refused, keys=keys, policy=Policy(), now=NOW)
        assert all(isinstance(r, VerificationError) for r in results)
        del results
        assert gc.collect() == 0
    finally:
        gc.enable()
