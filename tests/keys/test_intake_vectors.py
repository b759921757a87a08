"""Key intake against external vectors (../shared/vectors), without a database.

Wycheproof `json_web_key_test.json` is a JWS-level file: each group gives a key
(set) and each test a token with a verdict. For intake only the key matters, so
every group's key is fed to `import_public_key` and must get the outcome below.

Which Wycheproof cases apply, and how:
- Apply fully (a public EC/RSA key Signet must accept or refuse): tc5 (valid
  RS256 key: accepted), tc6 and tc21 (`use: enc`), tc7 (ROCA key: weak_key),
  tc8 (1024-bit RSA: weak_key), tc9 (e=1), tc19 (alg ES521 on P-256), tc20
  (alg ES224), tc22 (point not on the curve), tc23 (P-256 coordinates labelled
  P-384), tc24 (kty RSA holding EC members).
- Apply to the refusal only, not to their token verdict: tc1 (a keyset of an
  HMAC secret and a public EC key: refused as several keys, and the message
  says the secret must be treated as exposed), tc2-tc4 (keysets of two
  HMAC keys: refused as several keys), tc10-tc18 and tc25-tc26 (a single `oct`
  key: unsupported_key). Their tokens are HMAC-signed, and their `valid`
  verdicts (tc2, tc13-tc15: "a long enough HMAC key verifies") do not apply:
  Signet never holds symmetric keys, so no HMAC token can verify at all. These
  groups have no "public" member (a symmetric key has no public half), so the
  "private" key set is what is pasted.
- The "private" key sets of the groups that do have a public half hold `d` (and
  RSA's p, q, dp, dq, qi): pasting them is private_key_rejected.

The public keys of `json_web_signature_test.json` and `json_web_crypto_test.json`
and the RFC 7515 / RFC 7520 keys are checked the same way.
"""

import json

import pytest

from keys.intake import KeyImportError, import_public_key
from tests.conftest import VECTORS

WYCHEPROOF = VECTORS / "wycheproof"
RFC = VECTORS / "rfc"

ACCEPT = "accept"
PRIVATE = ("d", "p", "q", "dp", "dq", "qi")

# tcId of a group's first test -> outcome of pasting the group's key.
JWK_TEST_EXPECTED = {
    1: "invalid_key",  # oct secret + public EC key in one set: one key at a time (see test below)
    2: "invalid_key",  # two HMAC keys: one key at a time (and oct is unsupported anyway)
    4: "invalid_key",  # two HMAC keys with the same kid
    5: ACCEPT,  # RSA 2048, RS256, use sig
    6: "invalid_key",  # RSA use enc (alg RSA1_5)
    7: "weak_key",  # ROCA (CVE-2017-15361), 2049 bits
    8: "weak_key",  # RSA 1024
    9: "invalid_key",  # e = 1
    10: "unsupported_key",  # oct HS256 (short)
    11: "unsupported_key",
    12: "unsupported_key",
    13: "unsupported_key",  # oct HS256 (long): the token is `valid` for an HMAC verifier, not for Signet
    14: "unsupported_key",
    15: "unsupported_key",
    16: "unsupported_key",  # oct with empty k
    17: "unsupported_key",
    18: "unsupported_key",
    19: "invalid_key",  # alg ES521 with crv P-256
    20: "invalid_key",  # alg ES224
    21: "invalid_key",  # EC use enc
    22: "invalid_key",  # point not on P-256
    23: "invalid_key",  # P-256 coordinates with crv P-384
    24: "invalid_key",  # kty RSA with x, y
    25: "unsupported_key",  # oct labelled A256GCM
    26: "unsupported_key",  # oct labelled A256KW
}


def _groups(name):
    data = json.loads((WYCHEPROOF / name).read_text())
    return [(group["tests"][0]["tcId"], group) for group in data["testGroups"]]


def _outcome(value) -> str:
    try:
        import_public_key(value)
    except KeyImportError as exc:
        return exc.code
    return ACCEPT


def _has_private_member(key_or_set) -> bool:
    keys = key_or_set.get("keys", [key_or_set])
    return any(member in key for key in keys for member in PRIVATE)


@pytest.mark.parametrize(("tc_id", "group"), _groups("json_web_key_test.json"), ids=lambda v: str(v)[:12])
def test_wycheproof_json_web_key_groups(tc_id, group):
    expected = JWK_TEST_EXPECTED[tc_id]
    pasted = group["public"] if group.get("public") is not None else group["private"]
    assert _outcome(pasted) == expected
    assert _outcome(json.dumps(pasted)) == expected  # the same as JSON text
    if group.get("public") is not None and _has_private_member(group["private"]):
        assert _outcome(group["private"]) == "private_key_rejected"


def test_wycheproof_json_web_key_covers_every_group():
    assert sorted(tc for tc, _ in _groups("json_web_key_test.json")) == sorted(JWK_TEST_EXPECTED)


def test_wycheproof_mixed_keyset_warns_about_its_secret():
    group = dict(_groups("json_web_key_test.json"))[1]
    with pytest.raises(KeyImportError) as info:
        import_public_key(group["private"])
    assert "2 keys" in info.value.message and "exposed" in info.value.message


def test_wycheproof_accepted_key_keeps_its_kid_and_algorithm():
    group = dict(_groups("json_web_key_test.json"))[5]
    imported = import_public_key(group["public"])
    assert imported.kid_hint == group["public"]["keys"][0]["kid"]
    assert imported.facts.algorithms[0] == "RS256" and imported.facts.bits == 2048


# json_web_signature_test.json / json_web_crypto_test.json: groups with a public key.
SIGNATURE_FILE_EXPECTED = {
    ("json_web_signature_test.json", "es256"): ACCEPT,
    ("json_web_signature_test.json", "rs256"): ACCEPT,
    ("json_web_signature_test.json", "rs384"): ACCEPT,
    ("json_web_signature_test.json", "rs512"): ACCEPT,
    ("json_web_signature_test.json", "SpecialCaseEs256"): ACCEPT,
    ("json_web_signature_test.json", "ps256"): "unsupported_key",  # RSA-PSS: Signet verifies RS* only
    ("json_web_signature_test.json", "ps384"): "unsupported_key",
    ("json_web_signature_test.json", "ps512"): "unsupported_key",
    ("json_web_signature_test.json", "rsa_encryption"): "invalid_key",  # use enc / key_ops [encrypt]
    ("json_web_signature_test.json", "ec_key_for_encryption"): "invalid_key",
    ("json_web_crypto_test.json", "jws_ec"): ACCEPT,
    ("json_web_crypto_test.json", "jws_rsa"): ACCEPT,
    ("json_web_crypto_test.json", "jws_rsa_roca_key"): "weak_key",
}
# The rfc7520 groups: RS256 accepted, PS256 unsupported, and the P-521 key labelled
# "alg": "ES521" (a typo for ES512 in the group data) refused as a mismatched alg.
RFC7520_GROUP_BY_ALG = {"RS256": ACCEPT, "PS256": "unsupported_key", "ES521": "invalid_key"}


def _public_groups() -> list:
    return list(_iter_public_groups())


def _iter_public_groups():
    for name in ("json_web_signature_test.json", "json_web_crypto_test.json"):
        for tc_id, group in _groups(name):
            if group.get("public") is not None:
                yield pytest.param(name, group, id=f"{name.split('_test')[0]}-tc{tc_id}-{group['comment']}")


@pytest.mark.parametrize(("name", "group"), _public_groups())
def test_wycheproof_signature_file_public_keys(name, group):
    public = group["public"]
    if group["comment"].startswith("rfc7520"):
        expected = RFC7520_GROUP_BY_ALG[public["alg"]]
    else:
        expected = SIGNATURE_FILE_EXPECTED[(name, group["comment"])]
    assert _outcome(public) == expected
    if _has_private_member(group["private"]):
        assert _outcome(group["private"]) == "private_key_rejected"


def _rfc_cases() -> list:
    return list(_iter_rfc_cases())


def _iter_rfc_cases():
    for name in ("rfc7515_appendix_a.json", "rfc7520_section4_jws.json"):
        for case in json.loads((RFC / name).read_text())["cases"]:
            yield pytest.param(case, id=case["name"])


@pytest.mark.parametrize("case", _rfc_cases())
def test_rfc_keys(case):
    keys = case["jwk_or_pem"]
    publics = keys["jwk_public"] if isinstance(keys["jwk_public"], list) else [keys["jwk_public"]]
    if len(publics) > 1:
        # RFC 7520 4.8 (several signers): the keys pasted together are one key too many.
        assert _outcome(json.dumps({"keys": publics})) == "invalid_key"
    fingerprints = set()
    for public in publics:
        if public["kty"] == "oct":
            assert _outcome(public) == "unsupported_key"
            continue
        from_jwk = import_public_key(public)
        assert from_jwk.facts.jwk == {k: public[k] for k in from_jwk.facts.jwk}
        fingerprints.add(from_jwk.facts.fingerprint_sha256)
    if keys.get("pem_public"):
        # The PEM derived from the (first) asymmetric JWK has the same fingerprint.
        assert import_public_key(keys["pem_public"]).facts.fingerprint_sha256 in fingerprints
    published = keys.get("jwk_as_published_in_rfc")
    if published is not None:
        # RFC 7515 prints its example keys whole, private members included (A.1's is an HMAC secret).
        expected = "unsupported_key" if published["kty"] == "oct" else "private_key_rejected"
        assert _outcome(published) == expected
