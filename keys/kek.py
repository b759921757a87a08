"""The key-encryption key (KEK): how the platform's private keys are kept in the database.

What it is for: sealing and opening the PKCS#8 private halves of the tenants'
encryption keys and of the portal's session keys with AES-256-GCM under a key
that lives only in the environment (`SIGNET_KEK`). A sealed value reads
`v1:<kek-id>:<base64url(nonce || ciphertext || tag)>`; `kek-id` is a short hash
of the KEK, so that `rotate_kek` and `SIGNET_KEK_PREVIOUS` find the right key.
The associated data binds a sealed value to its row (`signet:enc:<tenant>:<kid>`),
so a value copied to another row does not open.

What it must never do: store, log or return a KEK or an opened private key.

Make a KEK with
    python -c 'import secrets, base64; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'
Without `SIGNET_KEK` (development and tests only: settings refuse to start in
production without it) a development KEK is derived from SECRET_KEY with HKDF
and a warning says so once per process.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import logging
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from keys import jose

log = logging.getLogger("signet.kek")

VERSION = "v1"
KEK_BYTES = 32
DEV_KEK_INFO = b"signet development KEK v1"
DEV_KEK_WARNING = "development KEK derived from SECRET_KEY; set SIGNET_KEK"
MAKE_ONE = "python -c 'import secrets, base64; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'"

_warned = threading.Event()


class KekError(Exception):
    """A sealed value that cannot be opened (unknown KEK, wrong row, tampered)."""


@dataclass(frozen=True)
class Kek:
    id: str
    key: bytes = field(repr=False)
    development: bool = False


@dataclass(frozen=True)
class Keyring:
    current: Kek
    by_id: dict = field(repr=False)


def kek_id(key: bytes) -> str:
    """A short public name for a KEK: it identifies, it does not reveal."""
    return hashlib.sha256(b"signet-kek-id\x00" + key).hexdigest()[:12]


def parse_kek(text: str, *, name: str = "SIGNET_KEK") -> bytes:
    text = (text or "").strip()
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEK_BYTES:
        raise ImproperlyConfigured(f"{name} must be 32 random bytes in URL-safe base64; make one with: {MAKE_ONE}")
    return key


def development_kek(secret_key: str) -> Kek:
    key = jose.derive_key(secret_key.encode(), info=DEV_KEK_INFO)
    return Kek(id=kek_id(key), key=key, development=True)


@functools.lru_cache(maxsize=8)
def _build(current_text: str, previous: tuple[str, ...], secret_key: str, with_development: bool) -> Keyring:
    if current_text:
        key = parse_kek(current_text)
        current = Kek(id=kek_id(key), key=key)
    else:
        current = development_kek(secret_key)
    by_id = {current.id: current}
    for index, text in enumerate(previous):
        key = parse_kek(text, name=f"SIGNET_KEK_PREVIOUS[{index}]")
        by_id.setdefault(kek_id(key), Kek(id=kek_id(key), key=key))
    if with_development:
        dev = development_kek(secret_key)
        by_id.setdefault(dev.id, dev)
    return Keyring(current=current, by_id=by_id)


def keyring(*, with_development: bool = False, announce: bool = True) -> Keyring:
    """The configured KEKs: the current one seals, every one listed opens."""
    ring = _build(
        settings.SIGNET_KEK or "",
        tuple(t for t in settings.SIGNET_KEK_PREVIOUS if t),
        settings.SECRET_KEY,
        with_development,
    )
    if announce and ring.current.development and not _warned.is_set():
        _warned.set()
        log.warning(DEV_KEK_WARNING)
    return ring


def check(*, announce: bool = False) -> Kek:
    """Validate the configuration now (for start-up): the current KEK, or ImproperlyConfigured.

    Every process checks at start-up (keys/apps.py); only servers announce a
    development KEK (portal/wsgi.py), so management commands keep a clean stderr.
    """
    return keyring(announce=announce).current


def seal(plaintext: bytes, *, aad: bytes) -> str:
    kek = keyring().current
    blob = jose.aead_seal(kek.key, plaintext, aad=aad)
    return f"{VERSION}:{kek.id}:{jose.b64url_encode(blob)}"


def sealed_kek_id(sealed: str) -> str:
    version, _, rest = (sealed or "").partition(":")
    kid, _, _ = rest.partition(":")
    if version != VERSION or not kid:
        raise KekError("not a sealed value of a known format")
    return kid


def unseal(sealed: str, *, aad: bytes, ring: Keyring | None = None) -> bytes:
    ring = ring or keyring()
    kid = sealed_kek_id(sealed)
    kek = ring.by_id.get(kid)
    if kek is None:
        raise KekError(f"sealed under KEK {kid}, which is neither SIGNET_KEK nor listed in SIGNET_KEK_PREVIOUS")
    try:
        blob = jose.b64url_decode_strict(sealed.split(":", 2)[2])
        return jose.aead_open(kek.key, blob, aad=aad)
    except ValueError:
        raise KekError(f"does not open under KEK {kid} (tampered, or sealed for another row)") from None


def is_current(sealed: str) -> bool:
    try:
        return sealed_kek_id(sealed) == keyring().current.id
    except KekError:
        return False
