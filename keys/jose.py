"""The only code in Signet that touches python-jose or cryptography.

What it is for: turning bytes into key objects, and checking or making
signatures and encryptions with an algorithm that WE chose from the key type.
What it must never do: let a token header choose a key or an algorithm,
accept HMAC or `none`, hand python-jose anything but a ready key object and a
one-algorithm list, or keep/log/return private key material.

It imports no Django models and no request objects; its one Django import,
`sensitive_variables`, marks where a pasted private key lives so that a Django
error report masks it. Callers: keys/intake.py (pasted keys), keys/engine.py
(token verification), keys/kek.py and the platform-key services.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.views.decorators.debug import sensitive_variables
from jose import jws as jose_jws
from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey

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
# The RSA public exponent must be odd and 3 <= e < 2**32 (see `vet_rsa_numbers` for why).
MAX_RSA_EXPONENT_BITS = 32


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
    fingerprint_sha256: str  # lowercase hex of SHA-256(SPKI DER), as `sha256sum` prints it (API.md)
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
    return PublicKeyFacts(
        spki_pem=pem,
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
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
    """A stored public key, loaded once, that checks signatures for its own algorithms only.

    It works at the signature layer (signing input bytes + signature bytes),
    not on token text: python-jose's token parser is lax (padding, `+/`, junk
    in base64, ignored `crit`, unbounded JSON depth), so keys/engine.py parses
    tokens strictly and hands over only bytes. python-jose then gets a ready
    key object for exactly one algorithm, never a JWK/dict/key set.
    """

    __slots__ = ("_jose_keys", "facts", "signature_size")

    def __init__(self, spki_pem: str):
        public_key = serialization.load_pem_public_key(spki_pem.encode())
        self.facts = describe_public_key(public_key)
        cls = CryptographyECKey if self.facts.key_type == "EC" else CryptographyRSAKey
        # One python-jose key object per algorithm, each built from a ready key object.
        # An EC key gets only the ES alg of its own curve (python-jose alone would verify ES256 with P-384).
        # A key stored before intake bounded e (`vet_rsa_numbers`) verifies nothing, so a token
        # costs no full-size exponentiation with it (nor could OpenSSL use it above 3072 bits).
        usable = self.facts.key_type != "RSA" or public_key.public_numbers().e.bit_length() <= MAX_RSA_EXPONENT_BITS
        self._jose_keys = {alg: cls(public_key, alg) for alg in self.facts.algorithms} if usable else {}
        # The only JWS signature length for this key: R‖S for ECDSA (RFC 7518 §3.4), k octets for RSA (RFC 8017 §8.2.2).
        octets = (self.facts.bits + 7) // 8
        self.signature_size = 2 * octets if self.facts.key_type == "EC" else octets

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self.facts.algorithms

    def describe(self) -> str:
        """Public words for messages, e.g. "P-256 key (ES256)"; never key material."""
        if self.facts.key_type == "EC":
            return f"{self.facts.curve} key ({self.facts.algorithms[0]})"
        return f"{self.facts.bits}-bit RSA key (RS256, RS384 or RS512)"

    def verify_signature(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True only when `signature` is a valid `alg` signature of `signing_input` by this key.

        The engine and the Wycheproof vector tests both come through here, so
        the vectors test the production code path. A wrong algorithm for this
        key or a signature of the wrong length is False before any crypto.
        """
        key = self._jose_keys.get(alg)
        if key is None or len(signature) != self.signature_size:
            return False
        try:
            return key.verify(signing_input, signature) is True
        except Exception:  # noqa: BLE001 - whatever the library raises, the signature is not verified
            return False


def is_der_ecdsa_signature(signature: bytes) -> bool:
    """Whether `signature` parses as a DER ECDSA-Sig-Value (a common mistake: openssl dgst output)."""
    try:
        decode_dss_signature(signature)
    except (ValueError, TypeError):
        return False
    return True


@functools.lru_cache(maxsize=4096)
def load_verifier(spki_pem: str) -> VerifierKey:
    """Process-wide cache of parsed keys, keyed by the PEM text itself (public data only)."""
    return VerifierKey(spki_pem)


# ---------------------------------------------------------------------------
# Section owned by the key-intake work (issue 3): loading pasted public keys.
# ---------------------------------------------------------------------------


#
# keys/intake.py does the text handling (PEM armour, JWK members, DER shape);
# these functions turn already-decoded bytes or numbers into `cryptography`
# public key objects. Their messages are fixed sentences: they never carry the
# input, and library exceptions are dropped (`from None`), not chained.

MAX_RSA_BITS = 8192


class KeyDataError(ValueError):
    """Bytes or numbers that do not make a usable public key. `message` is safe to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def load_spki_pem(data: bytes):
    """Load a PEM SubjectPublicKeyInfo; ValueError when it is not one."""
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("not a PEM public key") from None


def load_spki_der(der: bytes):
    """A DER SubjectPublicKeyInfo -> public key object."""
    try:
        return serialization.load_der_public_key(der)
    except UnsupportedAlgorithm:
        raise UnsupportedKey(
            "unsupported_key",
            "This public key uses an algorithm Signet does not know; "
            "Signet accepts EC P-256/P-384/P-521 and RSA (2048 bits or more).",
        ) from None
    except (ValueError, TypeError):
        raise KeyDataError("The key data is not a valid public key.") from None


def load_pkcs1_der(der: bytes):
    """A DER PKCS#1 RSAPublicKey (`RSA PUBLIC KEY`) -> RSA public key object."""
    try:
        # load_der_public_key reads SubjectPublicKeyInfo and, failing that, PKCS#1.
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyDataError("The RSA PUBLIC KEY block is not a valid PKCS#1 RSA public key.") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyDataError("The RSA PUBLIC KEY block does not hold an RSA key.")
    return key


@dataclass(frozen=True)
class CertificateKey:
    public_key: object
    not_before: datetime
    not_after: datetime


def load_certificate_der(der: bytes) -> CertificateKey:
    """An X.509 certificate (DER) -> its subject public key and validity dates."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, TypeError):
        raise KeyDataError("The certificate could not be read; copy the whole CERTIFICATE block again.") from None
    try:
        public_key = cert.public_key()
    except UnsupportedAlgorithm:
        raise UnsupportedKey(
            "unsupported_key",
            "This certificate holds a key of an algorithm Signet does not know; "
            "Signet accepts EC P-256/P-384/P-521 and RSA (2048 bits or more).",
        ) from None
    except (ValueError, TypeError):
        raise KeyDataError("The certificate's public key is not valid.") from None
    return CertificateKey(
        public_key=public_key, not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc
    )


def ec_public_key(crv: str, x: bytes, y: bytes):
    """A JWK EC point (crv in CURVE_BY_JWK, coordinates already of the curve's size) -> public key object."""
    numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), CURVE_BY_JWK[crv]())
    try:
        return numbers.public_key()
    except ValueError:
        raise KeyDataError(f"The point (x, y) is not on the curve {crv}: the key is damaged or crv is wrong.") from None


def rsa_public_key(n: int, e: int):
    """JWK RSA numbers -> public key object (after the checks of `vet_rsa_numbers`)."""
    vet_rsa_numbers(n, e)
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise KeyDataError("The RSA numbers n and e do not make a valid RSA public key.") from None


def vet_rsa_numbers(n: int, e: int) -> None:
    """Sanity of an RSA public key before its size is judged: odd modulus, odd e with 3 <= e < 2**32 and e < n.

    The upper bound on e is about cost and interoperability, not secrecy. Checking a
    signature is one exponentiation by e: with e near n (e = n - 2 loads as a key) it costs
    over a hundred times what it does with 65537, so a few such keys on a widget and
    tokens without kid (every key is tried) would let one tenant burn the shared verifier's
    CPU. OpenSSL also refuses e over 64 bits for moduli over 3072 bits, so such a key would
    register and then fail every token. No key in use needs more: `openssl genrsa` and the
    usual libraries make e = 65537 (some old keys have 3), and Go's crypto/rsa refuses any e
    over 2**31 - 1.
    """
    if n < 3 or n % 2 == 0:
        raise KeyDataError("The RSA modulus n is not valid (it must be a large odd number).")
    if e < 3 or e % 2 == 0 or e >= n:
        raise KeyDataError(
            "The RSA public exponent e is not valid (it must be odd and at least 3; almost every key uses 65537)."
        )
    if e.bit_length() > MAX_RSA_EXPONENT_BITS:
        raise KeyDataError(
            f"The RSA public exponent e is not valid: it is {e.bit_length()} bits long, and Signet accepts "
            f"an odd e below 2^{MAX_RSA_EXPONENT_BITS} (almost every key uses 65537, what openssl genrsa makes). "
            "Make a new key pair with: openssl genrsa -out private.pem 2048"
        )


def vet_public_key(public_key) -> None:
    """Checks beyond what loading does, for keys from any source; raises KeyDataError or UnsupportedKey."""
    if not isinstance(public_key, rsa.RSAPublicKey):
        return
    numbers = public_key.public_numbers()
    vet_rsa_numbers(numbers.n, numbers.e)
    if public_key.key_size > MAX_RSA_BITS:
        raise UnsupportedKey(
            "unsupported_key",
            f"This RSA key has {public_key.key_size} bits; Signet accepts 2048 to {MAX_RSA_BITS} bits.",
        )
    if public_key.key_size >= MIN_RSA_BITS and roca_vulnerable(numbers.n):
        raise UnsupportedKey(
            "weak_key",
            "This RSA key has the ROCA weakness (CVE-2017-15361, keys made by some Infineon chips): "
            "its private key can be computed from the public key. Make a new key pair with: "
            "openssl genrsa -out private.pem 2048",
        )


# ROCA (CVE-2017-15361): a modulus made by the flawed generator is, modulo each of these
# small primes, a power of 65537. The detection is that of the authors' roca-detect tool
# (Nemec et al., CCS 2017); for a random modulus the chance of a false match is about 2^-154.
_ROCA_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103)
_ROCA_PRIMES += (107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167)


def _powers_of_65537(p: int) -> frozenset[int]:
    seen, value = set(), 1
    while value not in seen:
        seen.add(value)
        value = value * 65537 % p
    return frozenset(seen)


_ROCA_SUBGROUPS = tuple((p, _powers_of_65537(p)) for p in _ROCA_PRIMES)


def roca_vulnerable(n: int) -> bool:
    return all(n % p in group for p, group in _ROCA_SUBGROUPS)


# ---------------------------------------------------------------------------
# Section owned by the playground/signing work: in-memory signing.
# ---------------------------------------------------------------------------
#
# The playground signs with a private key pasted for one request. The key
# lives only in local variables of `sign_compact`: it is never logged, cached,
# stored or returned, and no message here contains it. Every library error is
# replaced by a fixed sentence raised outside the handler, so no exception
# carries key text or chains a library error whose frames hold it. If anything
# unexpected escapes all the same, `sensitive_variables` makes Django's error
# report (DEBUG off) mask the key. Django masks, in each frame, the names listed
# by the nearest decorated function at or above that frame, and a decorated
# callee's list replaces its caller's rather than adding to it; so every
# function here that holds key text is decorated with the names of its own.
# The algorithm comes from the key; a requested one that does not fit is refused.

from jose.jws import sign as _jws_sign  # noqa: E402

PEM_PRIVATE_LABELS = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
MAX_PRIVATE_PEM_CHARS = 20_000
MAX_SIGN_PAYLOAD_BYTES = 16 * 1024


class SigningInputError(ValueError):
    """A private key, algorithm or payload the playground cannot sign with. `message` never holds key text."""

    def __init__(self, message: str, *, field: str = "private_key"):
        super().__init__(message)
        self.message = message
        self.field = field  # "private_key" | "alg" | "payload" | "kid"


@dataclass(frozen=True)
class SignedCompact:
    token: str
    alg: str
    header: dict
    payload_text: str  # exactly the JSON that was signed (compact form)
    public: PublicKeyFacts  # facts of the key's public half (public data only)
    notes: tuple[str, ...] = ()  # what was repaired in the pasted PEM, for the user to fix at home


_PEM_LABEL = re.compile(r"[A-Z0-9 ]{1,40}")
_NAMED_LABELS = (*PEM_PRIVATE_LABELS, "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE")


@sensitive_variables()
def _pem_blocks(text: str) -> list[tuple[str, str]]:
    """[(label, base64 body without white space)] of every PEM block in `text`."""
    blocks, position = [], 0
    while True:
        start = text.find("-----BEGIN ", position)
        if start < 0:
            return blocks
        label_end = text.find("-----", start + 11)
        if label_end < 0:
            return blocks
        label = text[start + 11 : label_end].strip()
        if not _PEM_LABEL.fullmatch(label):
            # A damaged BEGIN line: the "label" may hold the key body itself, so never echo it.
            raise SigningInputError("The -----BEGIN … line of the key is damaged: copy the whole key again.")
        footer = f"-----END {label}-----"
        end = text.find(footer, label_end + 5)
        if end < 0:
            # Only a label from our own list is named: any other "label" could be a piece of the key.
            shown = label if label in _NAMED_LABELS else "…"
            raise SigningInputError(f"The '-----END {shown}-----' line is missing: copy the whole key again.")
        body = text[label_end + 5 : end]
        blocks.append((label, body))
        position = end + len(footer)


@sensitive_variables()
def _private_key_pem(text: str) -> tuple[bytes, tuple[str, ...]]:
    """The private key block of pasted text as clean PEM bytes, and notes on what had to be repaired."""
    notes = []
    if "\\n" in text:
        text = text.replace("\\r\\n", "\n").replace("\\n", "\n")
        notes.append(
            "The key held the two characters \\n instead of line breaks (typical of a key kept in an "
            "environment variable or a JSON file). They were read as line breaks for this signature; "
            "your code must turn them into real line breaks before loading the key."
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if text.startswith("{"):
        raise SigningInputError(
            "This looks like a JWK. The playground takes a PEM private key "
            "(-----BEGIN PRIVATE KEY-----, EC PRIVATE KEY or RSA PRIVATE KEY)."
        )
    blocks = _pem_blocks(text)
    if not blocks:
        raise SigningInputError(
            "This is not a PEM key: paste the whole key, including the -----BEGIN PRIVATE KEY----- "
            "and -----END PRIVATE KEY----- lines."
        )
    labels = [label for label, _ in blocks]
    if "ENCRYPTED PRIVATE KEY" in labels or any("ENCRYPTED" in body for _, body in blocks):
        raise SigningInputError(
            "This private key is protected by a passphrase. Make an unencrypted copy for testing with: "
            "openssl pkey -in key.pem -out key-plain.pem"
        )
    chosen = next(((label, body) for label, body in blocks if label in PEM_PRIVATE_LABELS), None)
    if chosen is None:
        if any("PUBLIC KEY" in label or label == "CERTIFICATE" for label in labels):
            raise SigningInputError(
                "This is a public key or certificate. Signing needs the private half "
                "(-----BEGIN PRIVATE KEY-----); register the public half on the widget instead."
            )
        raise SigningInputError(
            "This PEM block is not a private key; expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY."
        )
    label, body = chosen
    lines = [line for line in body.split("\n") if line.strip()]
    if any(":" in line for line in lines):
        raise SigningInputError(
            "This PEM key has headers (for example Proc-Type: 4,ENCRYPTED): it is encrypted. "
            "Make an unencrypted copy for testing with: openssl pkey -in key.pem -out key-plain.pem"
        )
    compact = "".join(body.split())
    if len(lines) <= 1 and len(compact) > 64:
        notes.append(
            "The key's line breaks were lost (the base64 body was on one line or separated by spaces). "
            "It was re-wrapped for this signature; keep the line breaks in the file your code loads."
        )
    wrapped = "\n".join(compact[i : i + 64] for i in range(0, len(compact), 64))
    return f"-----BEGIN {label}-----\n{wrapped}\n-----END {label}-----\n".encode("ascii", "replace"), tuple(notes)


@sensitive_variables("private_key_pem", "pem", "private_key")
def _load_signing_key(private_key_pem: str):
    """(cryptography private key, its public facts, notes); SigningInputError otherwise."""
    if not isinstance(private_key_pem, str) or not private_key_pem.strip():
        raise SigningInputError("Paste a private key (PEM) to sign with.")
    if len(private_key_pem) > MAX_PRIVATE_PEM_CHARS:
        raise SigningInputError(f"This is longer than any supported private key ({MAX_PRIVATE_PEM_CHARS} characters).")
    pem, notes = _private_key_pem(private_key_pem)
    # Each refusal is raised after its `except` block has ended, so the parser's exception is
    # not even kept as a suppressed __context__ (its traceback holds the frames with the key).
    problem = None
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        problem = (
            "This private key is protected by a passphrase. Make an unencrypted copy for testing with: "
            "openssl pkey -in key.pem -out key-plain.pem"
        )
    except UnsupportedAlgorithm:
        problem = "This private key uses an algorithm Signet does not support; use EC P-256/P-384/P-521 or RSA."
    except Exception:  # noqa: BLE001 - whatever the parser says, the message must not carry the input
        problem = "This private key could not be read: the PEM body is damaged or incomplete. Copy the whole key again."
    if problem is not None:
        raise SigningInputError(problem)
    if not isinstance(private_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise SigningInputError(
            "This is not an EC or RSA private key; Signet accepts EC P-256/P-384/P-521 and RSA (2048 bits or more)."
        )
    try:
        public_key = private_key.public_key()
        vet_public_key(public_key)
        facts = describe_public_key(public_key)
    except (UnsupportedKey, KeyDataError) as exc:
        problem = exc.message  # our own fixed sentences, never key material
    if problem is not None:
        raise SigningInputError(problem)
    return private_key, facts, notes


def _payload_json(payload_json_text: str) -> str:
    """Strict JSON (no duplicate members, no NaN) re-serialised compactly in the same member order."""

    def no_duplicates(pairs):
        result = {}
        for name, value in pairs:
            if name in result:
                raise SigningInputError(f"The payload has the member '{name[:60]}' twice.", field="payload")
            result[name] = value
        return result

    def no_constant(name):
        raise SigningInputError(f"{name} is not valid JSON; use null or a number.", field="payload")

    def finite(number: str) -> float:
        # 1e400 reads as float("inf"), which json.dumps writes as Infinity: not JSON, and the verifier refuses it.
        value = float(number)
        if not math.isfinite(value):
            raise SigningInputError(
                f"The number {number[:40]} is not a finite number (the largest is about 1.8e308); "
                "write a smaller number, or the value as a string.",
                field="payload",
            )
        return value

    if not isinstance(payload_json_text, str) or not payload_json_text.strip():
        raise SigningInputError("Write the payload to sign (JSON).", field="payload")
    try:
        value = json.loads(
            payload_json_text, object_pairs_hook=no_duplicates, parse_constant=no_constant, parse_float=finite
        )
    except SigningInputError:
        raise
    except RecursionError:
        raise SigningInputError("The payload is nested too deeply.", field="payload") from None
    except ValueError as exc:
        detail = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})" if hasattr(exc, "lineno") else ""
        raise SigningInputError(f"The payload is not valid JSON{detail}.", field="payload") from None
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        # json.loads reads "\ud800" as a lone surrogate: a str, but not text that UTF-8 can carry.
        raise SigningInputError(
            f"The payload holds a lone UTF-16 surrogate (\\u{ord(exc.object[exc.start]):04x}), which is not valid "
            "Unicode and cannot be signed as UTF-8 JSON: write the character itself, or remove it.",
            field="payload",
        ) from None
    except (ValueError, RecursionError):
        raise SigningInputError("The payload could not be written back as JSON.", field="payload") from None
    if size > MAX_SIGN_PAYLOAD_BYTES:
        raise SigningInputError(f"The payload is over {MAX_SIGN_PAYLOAD_BYTES} bytes.", field="payload")
    return text


@sensitive_variables("private_key_pem", "_private")
def public_facts_of_private_pem(private_key_pem: str) -> PublicKeyFacts:
    """Facts about the public half of a pasted private key (for 'is this key registered?')."""
    _private, facts, _notes = _load_signing_key(private_key_pem)
    return facts


@sensitive_variables("private_key_pem", "private_key")
def sign_compact(payload_json_text: str, private_key_pem: str, *, kid: str | None, alg: str | None) -> SignedCompact:
    """Sign the JSON text as a compact JWS with the pasted key; SigningInputError on any problem.

    The algorithm is chosen from the key (ES256/384/512 by curve, RS256 for RSA
    unless RS384/RS512 is asked for); an `alg` that does not fit the key is refused.
    """
    private_key, facts, notes = _load_signing_key(private_key_pem)
    if alg in (None, ""):
        alg = facts.algorithms[0]
    if alg not in facts.algorithms:
        kind = f"{facts.curve} key" if facts.key_type == "EC" else f"{facts.bits}-bit RSA key"
        raise SigningInputError(
            f"The algorithm {str(alg)[:20]} does not fit this {kind}; it signs {' or '.join(facts.algorithms)}.",
            field="alg",
        )
    if kid is not None and (not isinstance(kid, str) or len(kid) > 200):
        raise SigningInputError("The kid is a string of at most 200 characters.", field="kid")
    payload_text = _payload_json(payload_json_text)
    cls = CryptographyECKey if facts.key_type == "EC" else CryptographyRSAKey
    headers = {"kid": kid} if kid else {}
    try:
        # A ready key object for exactly the algorithm chosen above; python-jose
        # writes ECDSA signatures as R‖S (RFC 7518 §3.4), never DER.
        token = _jws_sign(payload_text.encode("utf-8"), cls(private_key, alg), headers=headers, algorithm=alg)
    except Exception:  # noqa: BLE001 - never chain a library error that could carry key material
        token = None
    if token is None:  # raised outside the handler: nothing of the library error rides along
        raise SigningInputError("Signing failed with this key; check that it is a complete EC or RSA key.")
    encoded_header = token.split(".", 1)[0]
    header = json.loads(base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4)))
    return SignedCompact(token=token, alg=alg, header=header, payload_text=payload_text, public=facts, notes=notes)


# ---------------------------------------------------------------------------
# Section owned by the encryption work (issue 7): JWE and platform key pairs.
# ---------------------------------------------------------------------------
#
# Decrypt-then-verify. python-jose's `jwe.decrypt` does whatever the header
# names (RSA1_5, CBC-HS modes with a non-constant-time tag comparison, zip),
# so it is reached only after `parse_compact_jwe` has checked the whole token
# itself: five canonical base64url parts, a JSON header without duplicates,
# exactly RSA-OAEP-256 + A256GCM, no `zip`, no `crit`, a 96-bit IV, a 128-bit
# tag, and an encrypted key exactly as long as the RSA modulus.

import os  # noqa: E402
import re  # noqa: E402

from cryptography.exceptions import InvalidTag  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402
from jose import jwe as jose_jwe  # noqa: E402

JWE_ALG = "RSA-OAEP-256"
JWE_ENC = "A256GCM"
PLATFORM_RSA_BITS = 3072
SESSION_ALG = "ES256"
GCM_IV_BYTES = 12
GCM_TAG_BYTES = 16
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenRefused(Exception):
    """A JWE or session token refused before or during decryption; `code` is the API contract's."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def b64url_decode_strict(segment: str) -> bytes:
    """Canonical base64url only: no padding, no other characters, zero unused bits (ValueError otherwise)."""
    if not isinstance(segment, str) or not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not canonical base64url")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if b64url_encode(data) != segment:
        raise ValueError("not canonical base64url")
    return data


def _object_without_duplicates(pairs):
    result = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate member {name!r}")
        result[name] = value
    return result


def _json_object(data: bytes) -> dict:
    value = json.loads(data.decode("utf-8"), object_pairs_hook=_object_without_duplicates)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


@dataclass(frozen=True)
class CompactJWE:
    """A strictly parsed compact JWE whose header passed the algorithm allowlist (not decrypted)."""

    token: str
    header: dict
    encrypted_key: bytes
    iv: bytes
    ciphertext: bytes
    tag: bytes

    @property
    def kid(self) -> str | None:
        return self.header.get("kid")


JWE_HEADER_MEMBERS = frozenset({"alg", "enc", "kid", "cty", "typ"})


def looks_like_jwe(token: str) -> bool:
    """Five dot-separated parts: the compact JWE shape (a compact JWS has three)."""
    return token.count(".") == 4


def parse_compact_jwe(token: str, *, max_bytes: int) -> CompactJWE:
    """Check everything that can be checked without a key; raise TokenRefused otherwise."""
    if len(token.encode("utf-8", "surrogatepass")) > max_bytes:
        raise TokenRefused("token_too_large", f"The encrypted token is over the {max_bytes}-byte limit.")
    parts = token.split(".")
    if len(parts) != 5:
        raise TokenRefused("malformed_token", "A compact JWE has five base64url parts separated by dots.")
    try:
        header = _json_object(b64url_decode_strict(parts[0]))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TokenRefused(
            "malformed_token", "The JWE protected header is not canonical base64url of one JSON object."
        ) from None
    alg, enc = header.get("alg"), header.get("enc")
    if alg != JWE_ALG or enc != JWE_ENC:
        raise TokenRefused(
            "unsupported_algorithm",
            f"This JWE uses alg {str(alg)[:40]!r} and enc {str(enc)[:40]!r}; "
            f"Signet accepts only alg {JWE_ALG!r} with enc {JWE_ENC!r}.",
        )
    if "zip" in header:
        raise TokenRefused(
            "unsupported_algorithm", "Compressed JWE ('zip' header) is refused; encrypt the JWS uncompressed."
        )
    if "crit" in header:
        raise TokenRefused("unsupported_algorithm", "The JWE 'crit' header names extensions Signet does not support.")
    for name in ("kid", "cty", "typ"):
        if name in header and not isinstance(header[name], str):
            raise TokenRefused("malformed_token", f"The JWE header '{name}' must be a string.")
    # API.md: the header is exactly alg + enc, with optional kid and cty (and typ, a label some libraries
    # add); anything else (jku, jwk, x5u, epk, private names) would be a promise Signet does not keep.
    extra = sorted(set(header) - JWE_HEADER_MEMBERS)
    if extra:
        raise TokenRefused(
            "malformed_token",
            f"The JWE protected header may hold only alg, enc, kid, cty and typ; it also has {str(extra[0])[:40]!r}.",
        )
    try:
        encrypted_key, iv, ciphertext, tag = (b64url_decode_strict(p) for p in parts[1:])
    except ValueError:
        raise TokenRefused("malformed_token", "A JWE part is not canonical base64url.") from None
    if len(iv) != GCM_IV_BYTES or len(tag) != GCM_TAG_BYTES:
        raise TokenRefused("decryption_failed", "The JWE could not be decrypted (bad IV or tag length).")
    return CompactJWE(token=token, header=header, encrypted_key=encrypted_key, iv=iv, ciphertext=ciphertext, tag=tag)


def jwe_protected_header(token: str) -> dict:
    """The protected header of a compact JWE, decoded strictly, without any key or algorithm check."""
    parts = token.split(".")
    if len(parts) != 5:
        raise TokenRefused("malformed_token", "A compact JWE has five base64url parts separated by dots.")
    try:
        return _json_object(b64url_decode_strict(parts[0]))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TokenRefused("malformed_token", "The JWE protected header is not base64url of one JSON object.") from None


class DecrypterKey:
    """A platform RSA private key that decrypts RSA-OAEP-256 + A256GCM compact JWE only. Never printed."""

    __slots__ = ("_private_key", "modulus_bytes")

    def __init__(self, private_key: rsa.RSAPrivateKey):
        if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size < MIN_RSA_BITS:
            raise ValueError("an RSA private key of at least 2048 bits is required")
        self._private_key = private_key
        self.modulus_bytes = (private_key.key_size + 7) // 8

    def __repr__(self) -> str:
        return f"<DecrypterKey RSA {self._private_key.key_size}>"

    def decrypt(self, jwe: CompactJWE) -> bytes:
        """Plaintext of a JWE that `parse_compact_jwe` accepted; TokenRefused("decryption_failed") otherwise."""
        if jwe.header.get("alg") != JWE_ALG or jwe.header.get("enc") != JWE_ENC or "zip" in jwe.header:
            raise TokenRefused("unsupported_algorithm", "Only RSA-OAEP-256 with A256GCM is decrypted.")
        if len(jwe.encrypted_key) != self.modulus_bytes:
            raise TokenRefused("decryption_failed", "The JWE could not be decrypted with this tenant's keys.")
        try:
            # A ready key object; the header was allowlisted above, so python-jose
            # can only take the RSA-OAEP-256 + AES-GCM path.
            plaintext = jose_jwe.decrypt(jwe.token, self._private_key)
        except Exception:  # noqa: BLE001 - every failure is the same answer (no padding oracle)
            plaintext = None
        if plaintext is None:
            raise TokenRefused("decryption_failed", "The JWE could not be decrypted with this tenant's keys.")
        return plaintext


def encrypt_compact_jwe(spki_pem: str, plaintext: bytes, *, kid: str | None = None, cty: str | None = "JWT") -> str:
    """RSA-OAEP-256 + A256GCM compact JWE to a public key (the playground and tests use it)."""
    public_key = serialization.load_pem_public_key(spki_pem.encode())
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("an RSA public key is required")
    token = jose_jwe.encrypt(plaintext, public_key, encryption=JWE_ENC, algorithm=JWE_ALG, cty=cty, kid=kid)
    return token.decode("ascii") if isinstance(token, bytes) else token


# --- platform key pairs: generation and (de)serialisation -------------------


def generate_platform_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=PLATFORM_RSA_BITS)


def generate_session_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_der(private_key) -> bytes:
    """Unencrypted PKCS#8 DER: only ever handed straight to the KEK seal, never stored or logged."""
    return private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_der(der: bytes):
    return serialization.load_der_private_key(der, password=None)


def public_facts_of(private_key) -> PublicKeyFacts:
    return describe_public_key(private_key.public_key())


def encryption_jwk(spki_pem: str, kid: str) -> dict:
    """The public JWK a website encrypts to."""
    jwk = dict(load_verifier(spki_pem).facts.jwk)
    jwk.update({"kid": kid, "use": "enc", "alg": JWE_ALG})
    return jwk


# --- the portal's session tokens (ES256) -----------------------------------


class SessionSigner:
    """The portal's ES256 private key for session tokens. Never printed."""

    __slots__ = ("_key", "kid")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, kid: str):
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
            raise ValueError("a P-256 private key is required")
        self._key = CryptographyECKey(private_key, SESSION_ALG)
        self.kid = kid

    def __repr__(self) -> str:
        return f"<SessionSigner {self.kid}>"

    def sign(self, claims: dict) -> str:
        return jose_jws.sign(claims, self._key, headers={"kid": self.kid, "typ": "JWT"}, algorithm=SESSION_ALG)


@dataclass(frozen=True)
class SessionToken:
    """A strictly parsed session token; `verified_by` checks its signature."""

    header: dict
    claims: dict
    signing_input: bytes
    signature: bytes

    def verified_by(self, verifier: VerifierKey) -> bool:
        return verifier.verify_signature(SESSION_ALG, self.signing_input, self.signature)


def parse_session_token(token: str, *, max_bytes: int) -> SessionToken:
    """A compact JWS, strictly parsed, signature NOT checked yet."""
    if len(token.encode("utf-8", "surrogatepass")) > max_bytes:
        raise TokenRefused("token_too_large", f"The session token is over the {max_bytes}-byte limit.")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefused("malformed_token", "A session token is a compact JWS: three base64url parts.")
    try:
        header = _json_object(b64url_decode_strict(parts[0]))
        claims = _json_object(b64url_decode_strict(parts[1]))
        signature = b64url_decode_strict(parts[2])
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TokenRefused("malformed_token", "The session token is not three canonical base64url parts.") from None
    if header.get("alg") != SESSION_ALG or not isinstance(header.get("kid"), str) or "crit" in header:
        raise TokenRefused("bad_signature", "This is not a session token signed by this portal.")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return SessionToken(header=header, claims=claims, signing_input=signing_input, signature=signature)


# --- key-encryption key primitives (keys/kek.py decides which key) ---------


def derive_key(secret: bytes, *, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def aead_seal(key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """AES-256-GCM with a random 96-bit nonce: nonce || ciphertext || tag."""
    nonce = os.urandom(GCM_IV_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def aead_open(key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Inverse of `aead_seal`; ValueError when the key, the data or the associated data do not match."""
    if len(blob) < GCM_IV_BYTES + GCM_TAG_BYTES:
        raise ValueError("sealed data too short")
    try:
        return AESGCM(key).decrypt(blob[:GCM_IV_BYTES], blob[GCM_IV_BYTES:], aad)
    except InvalidTag:
        raise ValueError("sealed data does not open with this key") from None
