"""The only code in Signet that touches python-jose or cryptography.

What it is for: turning bytes into key objects, and checking or making
signatures and encryptions with an algorithm that WE chose from the key type.
What it must never do: let a token header choose a key or an algorithm,
accept HMAC or `none`, hand python-jose anything but a ready key object and a
one-algorithm list, or keep/log/return private key material.

It imports no Django code. Callers: keys/intake.py (pasted keys),
keys/engine.py (token verification), keys/kek.py and the platform-key services.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jws as jose_jws
from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
from jose.exceptions import JOSEError

EC_CURVES = {
    "secp256r1": ("P-256", "ES256", 32),
    "secp384r1": ("P-384", "ES384", 48),
    "secp521r1": ("P-521", "ES512", 66),
}
CURVE_BY_JWK = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
RSA_ALGORITHMS = ("RS256", "RS384", "RS512")
SIGNATURE_ALGORITHMS = ("ES256", "ES384", "ES512", *RSA_ALGORITHMS)
MIN_RSA_BITS = 2048


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int, length: int | None = None) -> str:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


# ---------------------------------------------------------------------------
# Public keys: description of a loaded public key (shared by intake and engine)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicKeyFacts:
    key_type: str  # "EC" | "RSA"
    curve: str | None  # "P-256" | "P-384" | "P-521" | None
    bits: int
    algorithms: tuple[str, ...]
    spki_pem: str  # normalised SubjectPublicKeyInfo PEM, "\n" line ends, final newline
    fingerprint_sha256: str  # colon-separated lowercase hex of SHA-256(SPKI DER)
    jwk_thumbprint: str  # RFC 7638 SHA-256 thumbprint, base64url
    jwk: dict  # public JWK members only (kty, crv, x, y | kty, n, e)


class UnsupportedKey(Exception):
    """A well-formed public key of a type or size Signet does not accept."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code  # "weak_key" | "unsupported_key"
        self.message = message


def describe_public_key(public_key) -> PublicKeyFacts:
    """Facts about a `cryptography` public key object; raises UnsupportedKey."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        name = public_key.curve.name
        if name not in EC_CURVES:
            raise UnsupportedKey(
                "unsupported_key",
                f"This is an EC key on the curve {name}; "
                "Signet accepts P-256 (ES256), P-384 (ES384) and P-521 (ES512).",
            )
        curve, alg, size = EC_CURVES[name]
        numbers = public_key.public_numbers()
        jwk = {"kty": "EC", "crv": curve, "x": _int_b64(numbers.x, size), "y": _int_b64(numbers.y, size)}
        facts = {"key_type": "EC", "curve": curve, "bits": public_key.curve.key_size, "algorithms": (alg,)}
    elif isinstance(public_key, rsa.RSAPublicKey):
        bits = public_key.key_size
        if bits < MIN_RSA_BITS:
            raise UnsupportedKey(
                "weak_key",
                f"This RSA key has {bits} bits; Signet needs at least {MIN_RSA_BITS}. "
                "Make a new key with: openssl genrsa -out private.pem 2048",
            )
        numbers = public_key.public_numbers()
        jwk = {"kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
        facts = {"key_type": "RSA", "curve": None, "bits": bits, "algorithms": RSA_ALGORITHMS}
    else:
        raise UnsupportedKey(
            "unsupported_key",
            f"This is a {_kind_name(public_key)} key; Signet accepts EC P-256/P-384/P-521 and RSA (2048 bits or more).",
        )
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    digest = hashlib.sha256(der).hexdigest()
    return PublicKeyFacts(
        spki_pem=pem,
        fingerprint_sha256=":".join(digest[i : i + 2] for i in range(0, 64, 2)),
        jwk_thumbprint=jwk_thumbprint(jwk),
        jwk=jwk,
        **facts,
    )


def _kind_name(public_key) -> str:
    name = type(public_key).__name__.replace("PublicKey", "").lstrip("_")
    return {"Ed25519": "Ed25519", "Ed448": "Ed448", "DSA": "DSA", "X25519": "X25519", "X448": "X448"}.get(
        name, name or "unknown"
    )


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638: SHA-256 over the required members, lexicographic order, no white space."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


# ---------------------------------------------------------------------------
# Signatures: verification keys built once per stored PEM
# ---------------------------------------------------------------------------


class VerifierKey:
    """A stored public key, loaded once, that checks signatures for its own algorithms only."""

    __slots__ = ("_jose_keys", "facts")

    def __init__(self, spki_pem: str):
        public_key = serialization.load_pem_public_key(spki_pem.encode())
        self.facts = describe_public_key(public_key)
        cls = CryptographyECKey if self.facts.key_type == "EC" else CryptographyRSAKey
        # One python-jose key object per algorithm, each built from a ready key object.
        self._jose_keys = {alg: cls(public_key, alg) for alg in self.facts.algorithms}

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self.facts.algorithms

    def verify(self, token: str, alg: str) -> bool:
        """Check the signature of a compact JWS whose format the caller has ALREADY validated strictly.

        `alg` must be one of this key's algorithms (the caller refuses others
        with a precise message first); python-jose gets this key object and a
        one-algorithm list, nothing else.
        """
        key = self._jose_keys.get(alg)
        if key is None:
            return False
        try:
            jose_jws.verify(token, key, algorithms=[alg], verify=True)
        except (JOSEError, ValueError, TypeError, OverflowError, RecursionError):
            return False
        return True


@functools.lru_cache(maxsize=4096)
def load_verifier(spki_pem: str) -> VerifierKey:
    """Process-wide cache of parsed keys, keyed by the PEM text itself (public data only)."""
    return VerifierKey(spki_pem)


# ---------------------------------------------------------------------------
# Section owned by the key-intake work (issue 3): loading pasted public keys.
# ---------------------------------------------------------------------------


def load_spki_pem(data: bytes):
    """Load a PEM SubjectPublicKeyInfo; ValueError when it is not one."""
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM public key") from exc


# ---------------------------------------------------------------------------
# Section owned by the playground/signing work: in-memory signing.
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Section owned by the encryption work (issue 7): JWE and platform key pairs.
# ---------------------------------------------------------------------------
