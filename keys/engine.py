"""How a token is verified, top to bottom. No Django inside.

The engine takes a compact JWS, the widget's keys and policy (plain values),
and the current time; it returns a `VerifiedToken` or raises exactly one
`VerificationError(code, message)` whose code is in `ERROR_CODES`. python-jose
is reached only through keys/jose.py (`VerifierKey.verify_signature`, the
signature layer), after this module has checked format, size, depth, header
and algorithm-vs-key itself; claims are checked here after the signature.

What it must never do: let the token choose a key (`jwk`, `jku`, `x5u`, `x5c`
are ignored) or an algorithm outside ES256/384/512 and RS256/384/512 fitting
the chosen key; report anything about a token's content before its signature
verified; raise anything but `VerificationError`; put key material or more
than ~64 characters of attacker input into a message.

Order of checks (the first failure wins):

1. size (`token_too_large`, before any parsing), then the compact form: three
   parts of unpadded, canonical base64url (`malformed_token`). White space
   around the token is stripped; inside it is malformed.
2. the header: UTF-8 JSON object, depth <= 32 (scanned before parsing), no
   duplicate members, no NaN/Infinity, integers of at most 40 digits
   (`malformed_token`); `alg` (`unsupported_algorithm` for `none`, HS*, PS*
   and anything else outside the six); `crit` (any, even `[]`) and `b64`
   refused (`malformed_token`); `kid` a non-empty string of <= 200 chars.
3. the key, from the widget's candidates only. With `kid`: exact match or
   `unknown_key`; revoked/expired -> `revoked_key`; alg must fit the key
   (`unsupported_algorithm`). Without `kid`: at most 10 active keys whose
   algorithms include `alg` are tried; none active -> `unknown_key`; none of
   that algorithm -> `unsupported_algorithm`; none verifies -> `revoked_key`
   when a revoked/expired key verifies, else `bad_signature`.
4. the signature (`bad_signature`; a DER ECDSA signature gets its own message).
   High-S ECDSA signatures are valid (as Wycheproof expects); replay is
   stopped by `jti`, in widgets/verification.py.
5. the payload, with the same JSON rules (`invalid_payload`): a JSON array is
   the "fields" format, a JSON object the "claims" format, anything else
   (string, number, non-JSON, empty) is refused. An empty array or object is
   accepted: zero fields.
   - fields: each entry an object with `label` (non-empty string <= 100),
     `data` (any JSON) and optional `type` (string of 1..32, default: the
     JSON type of `data`, as for unsigned fields); extra members are
     dropped, labels must be unique, order kept; `claims` is None.
   - claims: the registered claims (iss sub aud exp nbf iat jti) go to
     `claims` (only those present); every other member becomes a field
     {label: name, data: value as signed, type: json_type(value)} in signed
     order (names must be 1..100 characters).
6. the claims: value types (`invalid_claim`: exp/nbf/iat NumericDates in
   [0, 1e11), jti a 1..256-char string without control characters, iss/sub
   strings, aud a string or array of strings), then what the policy requires
   (`missing_claim`), then time (`expired`, `not_yet_valid`,
   `issued_in_future`, max age -> `expired`), then lifetime
   (`lifetime_too_long`: exp - (iat or now) > max_lifetime_seconds), then
   issuer/audience (`invalid_issuer`, `invalid_audience`), then
   `required_claims` (`missing_claim`, `invalid_claim`). A fields array has
   no registered claims: `require_exp`, `max_token_age_seconds` (needs iat),
   `expected_issuer` and `expected_audience` all answer `missing_claim` for
   it, and its `required_claims` are checked against the field labels (type
   against the entry's `data`). A required type the engine does not know
   counts as "any".

`decode()` is step 1-2 (without the alg/crit/kid rules) plus the payload's JSON
rules, for the playground; it raises only `token_too_large` and
`malformed_token` (a payload that is not JSON is a format problem there).
"""

from __future__ import annotations

import binascii
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, NamedTuple

import orjson

from keys import jose

log = logging.getLogger(__name__)

# Every code `verify` can raise (`decode`: token_too_large and malformed_token only).
ERROR_CODES = frozenset(
    {
        "token_too_large",
        "malformed_token",
        "unsupported_algorithm",
        "unknown_key",
        "revoked_key",
        "bad_signature",
        "invalid_payload",
        "invalid_claim",
        "missing_claim",
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "lifetime_too_long",
        "invalid_issuer",
        "invalid_audience",
    }
)

MAX_DEPTH = 32
MAX_INT_DIGITS = 40
MAX_KID_CHARS = 200
MAX_LABEL_CHARS = 100
MAX_TYPE_CHARS = 32
MAX_JTI_CHARS = 256
MAX_KEYS_TRIED = 10
MAX_NUMERIC_DATE = 1e11  # year 5138: anything above is a unit mistake (milliseconds) or an attack
SHOW_CHARS = 64
SUPPORTED = ", ".join(jose.SIGNATURE_ALGORITHMS)
KEY_SOURCE_HEADERS = ("jwk", "jku", "x5u", "x5c")


class VerificationError(Exception):
    """A refused token. `code` is the contract's snake_case code; `message` tells the developer what to fix."""

    def __init__(self, code: str, message: str, **details: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Policy:
    leeway_seconds: int = 60
    max_token_age_seconds: int | None = None
    require_exp: bool = False
    max_lifetime_seconds: int | None = 24 * 3600
    # claim name -> "string" | "number" | "boolean" | "object" | "array" | "any"
    required_claims: Mapping[str, str] = field(default_factory=dict)
    expected_audience: str = ""
    expected_issuer: str = ""
    max_token_bytes: int = 16 * 1024


@dataclass(frozen=True)
class CandidateKey:
    kid: str
    status: str  # "active" | "revoked" | "expired" (effective status, computed by the caller)
    verifier: jose.VerifierKey
    fingerprint_sha256: str
    status_detail: str = ""  # e.g. "revoked 2026-11-01 12:00 UTC", used in messages


@dataclass(frozen=True)
class DecodedToken:
    """A strictly parsed but NOT verified compact JWS."""

    header: dict
    payload: Any  # parsed JSON
    payload_bytes: int
    alg: str | None
    kid: str | None


class VerifiedToken(NamedTuple):  # immutable; built for every token, twice as fast as a frozen dataclass
    header: dict
    key: CandidateKey
    alg: str
    payload_format: str  # "fields" | "claims"
    fields: list[dict]  # [{"label", "data", "type"}] in signed order
    claims: dict | None  # registered claims present (iss sub aud exp nbf iat jti), None for a fields array
    payload: Any  # the full parsed payload (claims object or fields array)
    payload_bytes: int

    @property
    def kid(self) -> str:
        return self.key.kid

    @property
    def jti(self) -> str | None:
        return (self.claims or {}).get("jti")

    @property
    def exp(self) -> float | None:
        return (self.claims or {}).get("exp")


REGISTERED_CLAIMS = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti")
_REGISTERED = frozenset(REGISTERED_CLAIMS)


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def decode(token: str, *, max_bytes: int = 16 * 1024) -> DecodedToken:
    """Strict compact-JWS parse without any signature check (also used by the playground's Decode)."""
    try:
        parts = _split(token, max_bytes)
        payload = _parse_json(parts.payload_raw, "payload", "malformed_token")
    except VerificationError:
        raise
    except Exception:  # a parser bug must still answer with a code, never a traceback
        log.exception("unexpected error while decoding a token")
        raise VerificationError("malformed_token", "The token could not be parsed as a compact JWS.") from None
    header = parts.header
    alg, kid = header.get("alg"), header.get("kid")
    return DecodedToken(
        header=header,
        payload=payload,
        payload_bytes=len(parts.payload_raw),
        alg=alg if isinstance(alg, str) else None,
        kid=kid if isinstance(kid, str) else None,
    )


def verify(token: str, *, keys: Sequence[CandidateKey], policy: Policy, now: float) -> VerifiedToken:
    """Verify `token` against the widget's keys under `policy` at time `now` (POSIX seconds)."""
    try:
        return _verify(token, keys, policy, now)
    except VerificationError:
        raise
    except Exception:  # noqa: BLE001 - fail closed with a code (logged), never a traceback
        raise _unexpected() from None


def verify_many(
    tokens: Sequence[str], *, keys: Sequence[CandidateKey], policy: Policy, now: float
) -> list[VerifiedToken | VerificationError]:
    """`verify` for each token, as its result or its VerificationError, in order.

    Each token goes through exactly the steps of `verify`, in the same order; the batch runs one
    stage across all tokens before the next (form and header, then key and signature, then payload
    and claims), so the signature checks run back to back (on an Intel VM, interleaved with the
    Python stages, each ECDSA check ran ~20 % slower; on an AMD one it made no difference).
    """
    stages = (
        lambda token: _before_signature(token, policy),
        lambda before: (before, _verified_key(*before, keys)),
        lambda signed: _after_signature(*signed, policy, now),
    )
    results: list = list(tokens)
    for stage in stages:
        for index, value in enumerate(results):
            if isinstance(value, VerificationError):
                continue  # refused at an earlier stage
            try:
                results[index] = stage(value)
            except VerificationError as exc:
                results[index] = exc.with_traceback(None)  # a kept traceback would hold this frame: a cycle
            except Exception:  # noqa: BLE001 - fail closed with a code, as verify() does
                results[index] = _unexpected()
    return results


def _unexpected() -> VerificationError:
    """The refusal for a bug of ours; call it inside the `except` (it logs the traceback)."""
    log.exception("unexpected error while verifying a token")
    return VerificationError("malformed_token", "The token could not be processed as a compact JWS.")


def _verify(token: str, keys: Sequence[CandidateKey], policy: Policy, now: float) -> VerifiedToken:
    before = _before_signature(token, policy)
    return _after_signature(before, _verified_key(*before, keys), policy, now)


def _before_signature(token: str, policy: Policy) -> tuple[_Parts, str, str | None]:
    parts = _split(token, policy.max_token_bytes)
    alg, kid = _check_header(parts.header)
    return parts, alg, kid


def _after_signature(
    before: tuple[_Parts, str, str | None], key: CandidateKey, policy: Policy, now: float
) -> VerifiedToken:
    # Only now, with a verified signature, is anything about the content reported.
    parts, alg, _ = before
    payload = _parse_json(parts.payload_raw, "payload", "invalid_payload")
    if isinstance(payload, list):
        payload_format, fields, claims = "fields", _fields_from_array(payload), None
    elif isinstance(payload, dict):
        payload_format = "claims"
        fields, claims = _fields_from_object(payload)
    else:
        raise VerificationError(
            "invalid_payload",
            f"The payload is a JSON {_kind(payload)}; sign a JSON object of claims "
            "or a JSON array of {label, data, type} fields.",
        )
    _check_claims(claims, payload, fields, policy, now)
    return VerifiedToken(
        header=parts.header,
        key=key,
        alg=alg,
        payload_format=payload_format,
        fields=fields,
        claims=claims,
        payload=payload,
        payload_bytes=len(parts.payload_raw),
    )


# ---------------------------------------------------------------------------
# 1. Size and compact form
# ---------------------------------------------------------------------------

# The signature part may be empty here: `alg` is read first, so `none` tokens get `unsupported_algorithm`
# and other unsigned ones `bad_signature`.
_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)")
_NOT_B64URL = re.compile(r"[^A-Za-z0-9_-]")
# Unpadded base64url of n bytes ends with 2 or 3 characters whose unused low bits must be zero
# (RFC 4648 §3.5); other last characters decode to the same bytes, so the token text would not be unique.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_PART_NAMES = ("header", "payload", "signature")
_TO_STANDARD_B64 = bytes.maketrans(b"-_", b"+/")
_PADDING = {0: b"", 2: b"==", 3: b"="}


class _Parts(NamedTuple):  # a tuple: built for every token, about twice as fast as a frozen dataclass
    header: dict
    payload_raw: bytes
    signature: bytes
    signing_input: bytes


def _split(token: Any, max_bytes: int) -> _Parts:
    if not isinstance(token, str):
        raise VerificationError("malformed_token", "The token must be a string (a compact JWS).")
    size = len(token) if token.isascii() else len(token.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise VerificationError(
            "token_too_large",
            f"The token is {size} bytes; this widget accepts at most {max_bytes}. Sign fewer or shorter fields.",
        )
    token = token.strip()
    match = _COMPACT.fullmatch(token)
    if match is None:
        raise VerificationError("malformed_token", _format_problem(token))
    header_b64, payload_b64, signature_b64 = match.groups()
    header = _HEADERS.get(header_b64)
    if header is None:
        header_raw = _b64decode(header_b64, "header")
        payload_raw = _b64decode(payload_b64, "payload")
        signature = _b64decode(signature_b64, "signature")
        header = _parse_json(header_raw, "header", "malformed_token")
        if not isinstance(header, dict):
            raise VerificationError(
                "malformed_token", f"The header is a JSON {_kind(header)}; it must be a JSON object."
            )
        _remember_header(header_b64, header)
    else:  # a header seen before decoded and parsed cleanly: only the other two parts are left to check
        payload_raw = _b64decode(payload_b64, "payload")
        signature = _b64decode(signature_b64, "signature")
    return _Parts(dict(header), payload_raw, signature, token[: match.end(2)].encode("ascii"))


# Parsed headers by their base64url text, per process. A signer sends the same header with every
# token ({"alg","typ","kid"}), so after the first token its base64 decode and JSON parse are skipped.
# Only headers that parsed as JSON objects are kept (the alg/kid rules still run on every token);
# bounded in count and size, so hostile headers cannot grow it.
_HEADERS: dict[str, dict] = {}
HEADER_CACHE_ENTRIES = 512
HEADER_CACHE_MAX_CHARS = 1024


def _remember_header(header_b64: str, header: dict) -> None:
    if len(header_b64) > HEADER_CACHE_MAX_CHARS:
        return
    if len(_HEADERS) >= HEADER_CACHE_ENTRIES:
        _HEADERS.clear()
    _HEADERS[header_b64] = header


def _b64decode(part: str, name: str) -> bytes:
    rest = len(part) % 4
    if rest == 1:
        raise VerificationError(
            "malformed_token", f"The {name} part has an impossible length for base64url ({len(part)} characters)."
        )
    if rest and part[-1] not in _CANONICAL_LAST[rest]:
        raise VerificationError(
            "malformed_token",
            f"The {name} part is not canonical base64url: its last character {part[-1]!r} has unused bits set.",
        )
    try:
        return binascii.a2b_base64(part.encode("ascii").translate(_TO_STANDARD_B64) + _PADDING[rest])
    except (binascii.Error, ValueError):
        raise VerificationError("malformed_token", f"The {name} part is not valid base64url.") from None


def _format_problem(token: str) -> str:
    """Why `token` is not `header.payload.signature` (slow path, only for refusals)."""
    if not token:
        return "The token is empty; leave 'signed_interaction_data' out (or send null) when there is none."
    if token.startswith("{"):
        return (
            "This looks like a JWS JSON serialization; Signet accepts only the compact form header.payload.signature."
        )
    parts = token.split(".")
    if len(parts) == 5:
        return "The token has five parts, like a compact JWE; send a compact JWS (header.payload.signature)."
    if len(parts) != 3:
        return f"A compact JWS has three base64url parts separated by dots; this token has {len(parts)}."
    for name, part in zip(_PART_NAMES, parts, strict=True):
        if not part and name == "header":
            return "The header part is empty."
        bad = _NOT_B64URL.search(part)
        if bad is None:
            continue
        char = bad.group()
        if char == "=":
            return f"The {name} part has '=' padding; JWS uses unpadded base64url (RFC 7515 §2): remove the '='."
        if char in "+/":
            return f"The {name} part uses {char!r}; JWS uses the URL-safe base64 alphabet with '-' and '_'."
        if char.isspace():
            return f"The {name} part contains white space; remove spaces and line breaks inside the token."
        return f"The {name} part contains {char!r}, which is not base64url (A-Z, a-z, 0-9, '-' and '_')."
    return "The token is not a compact JWS (header.payload.signature)."


# ---------------------------------------------------------------------------
# Strict JSON (header and payload)
# ---------------------------------------------------------------------------


class _JSONRefused(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for name, _ in pairs:
            if name in seen:
                raise _JSONRefused(f"the member {_show(name)} appears twice")
            seen.add(name)
    return obj


def _constant(name: str) -> Any:
    raise _JSONRefused(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JSONRefused(f"the number {_show(text)} is too large")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _JSONRefused(f"an integer has more than {MAX_INT_DIGITS} digits; send big numbers as strings")
    return int(text)


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=_float, parse_int=_int, parse_constant=_constant)


def _any_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # Python reads at most 4300 digits (sys.get_int_max_str_digits)
        raise _JSONRefused("an integer has too many digits to read; send big numbers as strings") from None


# The API's request bodies (portal/api.py): the same number rules, without the token-only ones.
NUMBERS_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_any_int, parse_constant=_constant)
JSONRefused = _JSONRefused
# A JSON string, skipped whole (possessive: linear even on hostile input; an unterminated one runs to the end).
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Nesting deeper than `limit`, found by a bracket scan outside strings, BEFORE json parses it."""
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


_STRICT = object()
# orjson reads integers beyond 64 bits as floats, where the strict decoder keeps them exact (or refuses
# them): any run of 19+ digits sends the text the strict way. Below that every integer fits in 64 bits.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def has_long_digit_run(raw: bytes) -> bool:
    """19+ digits in a row: an integer orjson would read as a float (the API's bodies use this too)."""
    return _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZERO)


def _fast_json(raw: bytes, text: str) -> Any:
    """The strict decoder's result, computed fast, or _STRICT when only the strict decoder can tell.

    orjson accepts exactly the JSON the strict decoder accepts except in three ways, each caught here:
    it refuses NaN/Infinity, numbers that overflow to infinity and lone surrogates (refused by us too:
    the strict decoder then gives the precise message); it turns integers over 64 bits into floats
    (_NINETEEN_DIGITS); and it keeps the last of duplicate members. Duplicates: every member has
    exactly one ':' outside strings, so the parsed objects' sizes add up to that count only when no
    member was collapsed.
    """
    if has_long_digit_run(raw):
        return _STRICT
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _STRICT
    if not isinstance(value, (dict, list)):
        return value
    # A single object: arrays without objects add no members, so no walk.
    flat = isinstance(value, dict) and text.count("{") == 1
    members = len(value) if flat else _members(value)
    if text.count(":") != members and not _no_member_lost(text, members):
        return _STRICT
    return value


def _no_member_lost(text: str, members: int) -> bool:
    """Whether the text holds exactly `members` members, when some strings hold colons (URLs, times).

    Fast proof first: with no quote followed by white space, every member's colon directly follows
    its name's closing quote, so the text holds at most text.count('":') members; orjson's `members`
    can only be fewer (collapsed duplicates), so equal counts prove that none collapsed. Otherwise
    the colons outside strings are counted.
    """
    if (
        text.count('":') == members
        and '" ' not in text
        and '"\t' not in text
        and '"\n' not in text
        and '"\r' not in text
    ):
        return True
    # Without backslashes there are no escaped quotes: strings are exactly the odd pieces between quotes.
    outside = _JSON_STRING.sub("", text) if "\\" in text else "".join(text.split('"')[::2])
    return outside.count(":") == members


def _members(value: Any) -> int:
    """How many object members `value` holds, nested ones included (depth is bounded before parsing)."""
    if isinstance(value, dict):
        count = len(value)
        items = value.values()
    else:
        count = 0
        items = value
    for item in items:
        if isinstance(item, (dict, list)):
            count += _members(item)
    return count


def _parse_json(raw: bytes, what: str, code: str) -> Any:
    hint = "; sign a JSON object of claims or a JSON array of fields." if what == "payload" else "."
    if not raw:
        raise VerificationError(code, f"The {what} is empty{hint}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError(code, f"The {what} is not UTF-8 text{hint}") from None
    if too_deep(text):
        raise VerificationError(code, f"The {what} JSON is nested deeper than {MAX_DEPTH} levels.")
    value = _fast_json(raw, text)
    if value is not _STRICT:
        return value
    try:
        value = _DECODER.decode(text)
    except _JSONRefused as exc:
        raise VerificationError(code, f"The {what} JSON is refused: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise VerificationError(code, f"The {what} is not JSON ({exc.msg} at character {exc.pos}){hint}") from None
    except (ValueError, RecursionError):
        raise VerificationError(code, f"The {what} is not JSON{hint}") from None
    # json accepts "\ud800" escapes that decode to lone surrogates, which no UTF-8 consumer (or database) takes.
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise VerificationError(
                code, f"The {what} JSON holds an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF)."
            ) from None
    return value


# ---------------------------------------------------------------------------
# 2. Header
# ---------------------------------------------------------------------------


def _check_header(header: dict) -> tuple[str, str | None]:
    if "alg" not in header:
        raise VerificationError("malformed_token", f"The header has no 'alg'; sign with one of {SUPPORTED}.")
    alg = header["alg"]
    if not isinstance(alg, str):
        raise VerificationError("malformed_token", f"The header's 'alg' is a JSON {_kind(alg)}; it must be a string.")
    if alg not in jose.SIGNATURE_ALGORITHMS:
        raise VerificationError("unsupported_algorithm", _alg_refusal(alg))
    if "crit" in header:
        raise VerificationError(
            "malformed_token", "crit headers are not supported; sign the token without a 'crit' header."
        )
    if "b64" in header:
        raise VerificationError(
            "malformed_token", "The 'b64' header (RFC 7797 unencoded payload) is not supported; remove it."
        )
    if "kid" not in header:
        return alg, None
    kid = header["kid"]
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
        raise VerificationError(
            "malformed_token", f"The header's 'kid' must be a non-empty string of at most {MAX_KID_CHARS} characters."
        )
    return alg, kid


def _alg_refusal(alg: str) -> str:
    upper = alg.upper()
    if upper == "NONE":
        return f"alg {_show(alg)} (an unsigned token) is never accepted; sign with one of {SUPPORTED}."
    if upper.startswith("HS"):
        return (
            f"alg {_show(alg)} is a shared-secret (HMAC) algorithm; Signet verifies only public-key "
            f"signatures: {SUPPORTED}."
        )
    if upper in jose.SIGNATURE_ALGORITHMS:
        return f"alg {_show(alg)} must be written {upper}: algorithm names are case-sensitive."
    if upper.startswith("PS"):
        return f"alg {_show(alg)} (RSA-PSS) is not supported; sign with RS256 (or RS384/RS512) instead."
    return f"alg {_show(alg)} is not supported; use one of {SUPPORTED}."


# ---------------------------------------------------------------------------
# 3-4. Key choice and signature
# ---------------------------------------------------------------------------


def _verified_key(parts: _Parts, alg: str, kid: str | None, keys: Sequence[CandidateKey]) -> CandidateKey:
    if kid is not None:
        matches = [c for c in keys if c.kid == kid]
        if not matches:
            raise VerificationError("unknown_key", _unknown_kid(kid, keys, parts.header))
        active = [c for c in matches if c.status == "active"]
        if not active:
            raise VerificationError("revoked_key", _revoked(matches[0], verified=False))
        fitting = [c for c in active if alg in c.verifier.algorithms]
        if not fitting:
            raise VerificationError(
                "unsupported_algorithm",
                f"The header's alg {alg} does not fit this {active[0].verifier.describe()}; "
                f"sign with the key's algorithm or register a key for {alg}.",
            )
        key = _first_verifying(fitting, alg, parts)
        if key is None:
            raise VerificationError("bad_signature", _bad_signature(parts, alg, fitting, f"key {_show(kid)}"))
        return key

    active = [c for c in keys if c.status == "active"]
    inactive = [c for c in keys if c.status != "active" and alg in c.verifier.algorithms]
    if not active:
        revoked = _first_verifying(inactive, alg, parts)
        if revoked is not None:
            raise VerificationError("revoked_key", _revoked(revoked, verified=True))
        detail = " (all of its keys are revoked or expired)" if keys else ""
        raise VerificationError(
            "unknown_key",
            f"No active key is registered on this widget{detail}; register the public key that signs these tokens."
            + _ignored_headers(parts.header),
        )
    fitting = [c for c in active if alg in c.verifier.algorithms]
    if not fitting:
        # Signed by a key of this widget that is now revoked or expired: say so (API.md: revoked_key).
        revoked = _first_verifying(inactive, alg, parts)
        if revoked is not None:
            raise VerificationError("revoked_key", _revoked(revoked, verified=True))
        raise VerificationError(
            "unsupported_algorithm",
            f"The header's alg {alg} fits none of this widget's active keys ({_describe_keys(active)}).",
        )
    key = _first_verifying(fitting, alg, parts)
    if key is not None:
        return key
    revoked = _first_verifying(inactive, alg, parts)
    if revoked is not None:
        raise VerificationError("revoked_key", _revoked(revoked, verified=True))
    tried = min(len(fitting), MAX_KEYS_TRIED)
    scope = f"any of this widget's {tried} active {alg} keys" if tried > 1 else f"this widget's active {alg} key"
    if len(fitting) > MAX_KEYS_TRIED:
        scope += f" (the first {MAX_KEYS_TRIED} were tried; add a 'kid' header)"
    raise VerificationError("bad_signature", _bad_signature(parts, alg, fitting, scope))


def _first_verifying(candidates: list[CandidateKey], alg: str, parts: _Parts) -> CandidateKey | None:
    for candidate in candidates[:MAX_KEYS_TRIED]:
        if candidate.verifier.verify_signature(alg, parts.signing_input, parts.signature):
            return candidate
    return None


def _bad_signature(parts: _Parts, alg: str, keys: list[CandidateKey], scope: str) -> str:
    signature = parts.signature
    if not signature:
        return "The token has no signature (its third part is empty); unsigned tokens are never accepted."
    sizes = sorted({c.verifier.signature_size for c in keys[:MAX_KEYS_TRIED]})
    if len(signature) not in sizes:
        if alg.startswith("ES"):
            size = sizes[0]  # one curve per ES algorithm, one size
            if jose.is_der_ecdsa_signature(signature):
                return (
                    f"This signature is DER-encoded; JWS needs the {size}-byte R‖S form (RFC 7518 §3.4). "
                    "Convert it (e.g. cryptography's decode_dss_signature) or sign with a JOSE library."
                )
            return f"The {alg} signature is {len(signature)} bytes; it must be exactly {size} bytes (R‖S)."
        expected = " or ".join(str(s) for s in sizes)
        return f"The {alg} signature is {len(signature)} bytes; the RSA key needs exactly {expected} bytes."
    return (
        f"The signature does not verify with {scope}: the token was changed after signing, "
        "or it was signed with another private key." + _ignored_headers(parts.header)
    )


def _unknown_kid(kid: str, keys: Sequence[CandidateKey], header: dict) -> str:
    active = [c.kid for c in keys if c.status == "active"]
    if not active:
        return (
            f"The kid {_show(kid)} is not registered on this widget, which has no active key; "
            "register the public key that signs these tokens." + _ignored_headers(header)
        )
    listed = ", ".join(_show(k) for k in active[:5])
    if len(active) > 5:
        listed += f" and {len(active) - 5} more"
    near = next((k for k in active if k.casefold() == kid.strip().casefold()), None)
    hint = f" (did you mean {_show(near)}? kids are compared exactly)" if near else ""
    return (
        f"The kid {_show(kid)} is not registered on this widget; its active kids are {listed}{hint}."
        + _ignored_headers(header)
    )


def _revoked(candidate: CandidateKey, *, verified: bool) -> str:
    detail = f" ({candidate.status_detail})" if candidate.status_detail else ""
    which = "that signed this token " if verified else ""
    return (
        f"The key {_show(candidate.kid)} {which}is {candidate.status}{detail}; sign with an active key of this widget."
    )


def _ignored_headers(header: dict) -> str:
    present = [name for name in KEY_SOURCE_HEADERS if name in header]
    if not present:
        return ""
    names = ", ".join(f"'{name}'" for name in present)
    header_was = "header was" if len(present) == 1 else "headers were"
    return f" The token's {names} {header_was} ignored: keys come only from this widget's registered keys."


def _describe_keys(keys: list[CandidateKey]) -> str:
    described = [f"{_show(c.kid)}: {c.verifier.describe()}" for c in keys[:3]]
    if len(keys) > 3:
        described.append(f"{len(keys) - 3} more")
    return "; ".join(described)


# ---------------------------------------------------------------------------
# 5. Payload shape
# ---------------------------------------------------------------------------


def _fields_from_array(payload: list) -> list[dict]:
    fields, seen = [], set()
    for index, entry in enumerate(payload):
        if not isinstance(entry, dict):
            raise VerificationError(
                "invalid_payload",
                f"Field {index} of the payload is a JSON {_kind(entry)}; each field is an object "
                "{label, data, type}.",
            )
        label = entry.get("label")
        if not isinstance(label, str) or not label or len(label) > MAX_LABEL_CHARS:
            raise VerificationError(
                "invalid_payload",
                f"Field {index} needs a 'label': a non-empty string of at most {MAX_LABEL_CHARS} characters.",
            )
        if "data" not in entry:
            raise VerificationError("invalid_payload", f"Field {index} ({_show(label)}) has no 'data'.")
        data = entry["data"]
        kind = entry["type"] if "type" in entry else json_type(data)
        if not isinstance(kind, str) or not kind or len(kind) > MAX_TYPE_CHARS:
            raise VerificationError(
                "invalid_payload",
                f"Field {index} ({_show(label)}) has a 'type' that is not a string of 1 to {MAX_TYPE_CHARS} "
                "characters.",
            )
        if label in seen:
            raise VerificationError(
                "invalid_payload", f"The label {_show(label)} appears twice in the signed fields; labels are unique."
            )
        seen.add(label)
        fields.append({"label": label, "data": data, "type": kind})
    return fields


# The parser yields exactly these types, so a dict lookup replaces json_type() on the hot path.
_JSON_TYPES = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
    dict: "json",
    list: "json",
}


def _fields_from_object(payload: dict) -> tuple[list[dict], dict]:
    fields, claims = [], {}
    for name, value in payload.items():
        if name in _REGISTERED:
            claims[name] = value
        elif 0 < len(name) <= MAX_LABEL_CHARS:
            fields.append({"label": name, "data": value, "type": _JSON_TYPES[type(value)]})
        else:
            raise VerificationError(
                "invalid_payload",
                f"The payload member {_show(name)} cannot be a field: names are 1 to {MAX_LABEL_CHARS} characters.",
            )
    return fields, claims


# ---------------------------------------------------------------------------
# 6. Claims
# ---------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REQUIRED_TYPES = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _check_claims(claims: dict | None, payload: Any, fields: list[dict], policy: Policy, now: float) -> None:
    present = claims or {}
    for name in ("exp", "nbf", "iat"):
        if name in present:
            _numeric_date(name, present[name])
    if "jti" in present:
        jti = present["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS or _CONTROL.search(jti):
            raise VerificationError(
                "invalid_claim",
                f"jti must be a string of 1 to {MAX_JTI_CHARS} characters without control characters; "
                f"got {_described(jti)}.",
            )
    for name in ("iss", "sub"):
        if name in present and not isinstance(present[name], str):
            raise VerificationError("invalid_claim", f"{name} must be a string; got {_described(present[name])}.")
    aud = present.get("aud")
    if "aud" in present and not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        raise VerificationError("invalid_claim", f"aud must be a string or an array of strings; got {_described(aud)}.")

    max_age = policy.max_token_age_seconds
    if policy.require_exp and "exp" not in present:
        raise _missing(claims is None, "exp", "This widget requires an expiry")
    if max_age is not None and "iat" not in present:
        raise _missing(claims is None, "iat", f"This widget accepts tokens at most {_duration(max_age)} old")
    if policy.expected_issuer and "iss" not in present:
        raise _missing(claims is None, "iss", f"This widget expects the issuer {_show(policy.expected_issuer)}")
    if policy.expected_audience and "aud" not in present:
        raise _missing(claims is None, "aud", f"This widget expects the audience {_show(policy.expected_audience)}")

    leeway = policy.leeway_seconds
    exp, nbf, iat = present.get("exp"), present.get("nbf"), present.get("iat")
    if exp is not None and now > exp + leeway:
        raise VerificationError(
            "expired",
            f"The token expired {_duration(now - exp)} ago (exp {_when(exp, now)}, leeway {leeway} s); "
            "sign a fresh token for each chat.",
        )
    if nbf is not None and now + leeway < nbf:
        raise VerificationError(
            "not_yet_valid",
            f"The token is not valid before {_when(nbf, now)}, {_duration(nbf - now)} from now "
            f"(leeway {leeway} s); check the signing server's clock.",
        )
    if iat is not None and iat > now + leeway:
        raise VerificationError(
            "issued_in_future",
            f"The token was issued {_duration(iat - now)} in the future (iat {_when(iat, now)}, leeway {leeway} s); "
            "check the signing server's clock.",
        )
    if max_age is not None and now - iat > max_age + leeway:
        raise VerificationError(
            "expired",
            f"The token was issued {_duration(now - iat)} ago; this widget accepts tokens at most "
            f"{_duration(max_age)} old (leeway {leeway} s).",
        )
    max_lifetime = policy.max_lifetime_seconds
    if max_lifetime is not None and exp is not None:
        start, since = (iat, "iat") if iat is not None else (now, "now")
        if exp - start > max_lifetime:
            raise VerificationError(
                "lifetime_too_long",
                f"The token is valid for {_duration(exp - start)} (from {since} to exp); this widget accepts at most "
                f"{_duration(max_lifetime)}: sign tokens with a nearer exp.",
            )

    if policy.expected_issuer and present["iss"] != policy.expected_issuer:
        raise VerificationError(
            "invalid_issuer",
            f"The token's iss {_show(present['iss'])} is not the issuer this widget expects "
            f"({_show(policy.expected_issuer)}).",
        )
    if policy.expected_audience:
        audiences = [aud] if isinstance(aud, str) else aud
        if policy.expected_audience not in audiences:
            shown = _show(aud) if isinstance(aud, str) else f"[{', '.join(_show(a) for a in aud[:3])}]"
            raise VerificationError(
                "invalid_audience",
                f"The token's aud {shown} does not include this widget's audience {_show(policy.expected_audience)}.",
            )

    if policy.required_claims:
        # A claims object: its members; a fields array: its labels (the type is checked against `data`).
        values = {f["label"]: f["data"] for f in fields} if claims is None else payload
        for name, kind in policy.required_claims.items():
            if name not in values:
                where = "field label" if claims is None else "claim"
                raise VerificationError(
                    "missing_claim",
                    f"The {where} {_show(name)} is required by this widget; add it to the signed payload.",
                )
            check = _REQUIRED_TYPES.get(kind)
            if check is not None and not check(values[name]):
                raise VerificationError(
                    "invalid_claim",
                    f"The claim {_show(name)} must be a {kind}; got {_described(values[name])}.",
                )


def _missing(is_array: bool, name: str, why: str) -> VerificationError:
    if is_array:
        return VerificationError(
            "missing_claim",
            f"{why}, so the token needs '{name}'; a fields array cannot carry {name}: sign a JSON object of "
            "claims instead.",
        )
    return VerificationError("missing_claim", f"{why}, so the token needs the claim '{name}'; add it.")


def _numeric_date(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise VerificationError(
            "invalid_claim", f"{name} must be a NumericDate (seconds since 1970), got {_described(value)}."
        )
    if not 0 <= value < MAX_NUMERIC_DATE:
        hint = " (it looks like milliseconds: divide by 1000)" if MAX_NUMERIC_DATE <= value < 1e14 else ""
        raise VerificationError(
            "invalid_claim",
            f"{name} must be a NumericDate (seconds since 1970) between 0 and 1e11, got {_show(value)}{hint}.",
        )


# ---------------------------------------------------------------------------
# Words for messages
# ---------------------------------------------------------------------------


def json_type(value: Any) -> str:
    """The contract's `type` of a claim value: string, number, boolean, null or json."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "json"


def _kind(value: Any) -> str:
    """JSON's own name for a value's type, for messages."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return json_type(value)


def _described(value: Any) -> str:
    """For messages: a string '…', a number 12, a boolean, null, an array, an object."""
    kind = _kind(value)
    if kind in ("string", "number"):
        return f"a {kind} {_show(value)}"
    if kind == "null":
        return "null"
    return f"an {kind}" if kind in ("object", "array") else f"a {kind}"


def _show(value: Any) -> str:
    """A short, quoted rendering of untrusted input: never more than SHOW_CHARS characters of it."""
    if isinstance(value, str):
        return repr(value[:SHOW_CHARS] + "…") if len(value) > SHOW_CHARS else repr(value)
    text = repr(value)
    return text[:SHOW_CHARS] + "…" if len(text) > SHOW_CHARS else text


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _when(timestamp: float, now: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    try:
        same_day = moment.date() == datetime.fromtimestamp(now, tz=UTC).date()
    except (OverflowError, OSError, ValueError):
        same_day = False
    return f"{moment:%H:%M:%S} UTC" if same_day else f"{moment:%Y-%m-%d %H:%M:%S} UTC"
