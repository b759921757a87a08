"""How a token is verified, top to bottom. No Django inside.

The engine takes a compact JWS, the widget's keys and policy (plain values),
and the current time; it returns a `VerifiedToken` or raises exactly one
`VerificationError(code, message)` whose code is one of the API contract's.
python-jose is reached only through keys/jose.py, after this module has
checked format, size, depth, header, algorithm-vs-key and claims itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keys import jose


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


@dataclass(frozen=True)
class VerifiedToken:
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


def decode(token: str, *, max_bytes: int = 16 * 1024) -> DecodedToken:
    """Strict compact-JWS parse without any signature check (also used by the playground's Decode)."""
    raise NotImplementedError


def verify(token: str, *, keys: Sequence[CandidateKey], policy: Policy, now: float) -> VerifiedToken:
    """Verify `token` against the widget's keys under `policy` at time `now` (POSIX seconds)."""
    raise NotImplementedError


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
