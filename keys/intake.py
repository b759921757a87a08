"""Turning what an admin pastes into a public key we can trust, or a refusal that teaches.

`import_public_key(value)` takes PEM text, a JWK object or JWK JSON text, and
returns an `ImportedKey`; every refusal is a `KeyImportError(code, message)`
with one of the API contract's codes (invalid_key, private_key_rejected,
weak_key, unsupported_key). A message NEVER contains the pasted text.
Cryptography itself lives in keys/jose.py; this module is text handling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from keys import jose


class KeyImportError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImportedKey:
    facts: jose.PublicKeyFacts
    source_format: str  # "spki" | "pkcs1" | "certificate" | "jwk"
    certificate_not_after: datetime | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    kid_hint: str | None = None  # a JWK's own "kid", if it had one


MAX_INPUT_CHARS = 20_000


def import_public_key(value: str | dict) -> ImportedKey:
    """Minimal first version: PEM SubjectPublicKeyInfo only (the intake issue extends this)."""
    if isinstance(value, dict) or not isinstance(value, str):
        raise KeyImportError("invalid_key", "Paste the public key as PEM text.")
    if len(value) > MAX_INPUT_CHARS:
        raise KeyImportError("invalid_key", "This is too long to be a public key.")
    if "PRIVATE KEY" in value:
        raise KeyImportError("private_key_rejected", "This is a private key. It was not saved; treat it as exposed.")
    try:
        public_key = jose.load_spki_pem(value.strip().encode())
    except ValueError:
        raise KeyImportError("invalid_key", "This is not a PEM public key.") from None
    try:
        facts = jose.describe_public_key(public_key)
    except jose.UnsupportedKey as exc:
        raise KeyImportError(exc.code, exc.message) from None
    return ImportedKey(facts=facts, source_format="spki")
