"""The platform's own key pairs: tenants' encryption keys and the portal's session-signing keys.

Services (create, retire, rotate) write a row, its audit event and the cache
invalidation in one transaction. Selectors give the verify path what it needs
without a database query per request: each process keeps, per tenant, the
active encryption keys already opened (KEK) and loaded, and checks with one
shared-cache read that no key was created or retired since.

What it must never do: return, log or store in clear a private key. Private
halves exist in clear only inside `jose.DecrypterKey` / `jose.SessionSigner`
objects in process memory.
"""

from __future__ import annotations

import functools
import itertools
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from keys import engine, jose, kek
from keys.models import EncryptionKey, EncryptionKeyStatus, SessionSigningKey
from portal import sharedcache
from portal.services import audit_record

log = logging.getLogger("signet.keys")

# A safety net under the shared-cache invalidation: a process re-reads a
# tenant's keys at least this often even if a version message was lost.
LOCAL_MAX_AGE_SECONDS = 60
VERSION_TTL = 24 * 3600
MAX_LOCAL_KEYRINGS = 10_000


def _enc_aad(tenant_id: int, kid: str) -> bytes:
    return f"signet:enc:{tenant_id}:{kid}".encode()


def _session_aad(kid: str) -> bytes:
    return f"signet:session:{kid}".encode()


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


# ---------------------------------------------------------------------------
# Opened private keys: one per sealed value per process
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _decrypter(sealed: str, aad: bytes) -> jose.DecrypterKey:
    # Keyed by the sealed text itself (ciphertext), so a KEK rotation or a new
    # row is a new entry; the opened key never appears in a key or a log.
    return jose.DecrypterKey(jose.load_private_key_der(kek.unseal(sealed, aad=aad)))


@functools.lru_cache(maxsize=64)
def _signer(sealed: str, aad: bytes, kid: str) -> jose.SessionSigner:
    return jose.SessionSigner(jose.load_private_key_der(kek.unseal(sealed, aad=aad)), kid)


# ---------------------------------------------------------------------------
# Encryption keys: services
# ---------------------------------------------------------------------------


def _tenant_version_key(tenant_id: int) -> str:
    return f"enckeys:{tenant_id}"


def _invalidate_tenant_on_commit(tenant_id: int) -> None:
    def publish():
        sharedcache.set(_tenant_version_key(tenant_id), secrets.token_hex(8), VERSION_TTL)
        _keyrings.pop(tenant_id, None)

    # This process forgets at once (a reload inside the transaction sees the
    # change); every process forgets once the change commits.
    _keyrings.pop(tenant_id, None)
    transaction.on_commit(publish)


def new_encryption_kid() -> str:
    return f"enc-{timezone.now():%Y%m%d}-{secrets.token_hex(4)}"


def encryption_key_create(*, tenant, actor=None) -> EncryptionKey:
    """A new RSA-3072 key pair for the tenant; it becomes the key to publish (rotation)."""
    private_key = jose.generate_platform_rsa_key()
    facts = jose.public_facts_of(private_key)
    kid = new_encryption_kid()
    sealed = kek.seal(jose.private_key_der(private_key), aad=_enc_aad(tenant.pk, kid))
    with transaction.atomic():
        key = EncryptionKey.objects.create(
            tenant=tenant,
            kid=kid,
            public_key_pem=facts.spki_pem,
            fingerprint_sha256=facts.fingerprint_sha256,
            private_key_encrypted=sealed,
            created_by=_user_or_none(actor),
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="encryption_key.created",
            target=kid,
            details={"fingerprint": facts.fingerprint_sha256, "bits": facts.bits, "alg": jose.JWE_ALG},
        )
        _invalidate_tenant_on_commit(tenant.pk)
    return key


def encryption_key_retire(*, key: EncryptionKey, actor=None) -> EncryptionKey:
    """Retire a key: it stops decrypting at once (in every process, on commit)."""
    if key.status == EncryptionKeyStatus.RETIRED:
        return key
    with transaction.atomic():
        key = EncryptionKey.objects.select_for_update().select_related("tenant").get(pk=key.pk)
        if key.status == EncryptionKeyStatus.RETIRED:
            return key
        key.status = EncryptionKeyStatus.RETIRED
        key.retired_at = timezone.now()
        key.save(update_fields=["status", "retired_at"])
        audit_record(
            tenant=key.tenant,
            actor=actor,
            action="encryption_key.retired",
            target=key.kid,
            details={"fingerprint": key.fingerprint_sha256},
        )
        _invalidate_tenant_on_commit(key.tenant_id)
    return key


def encryption_key_public_jwk(key: EncryptionKey) -> dict:
    return jose.encryption_jwk(key.public_key_pem, key.kid)


def publishable_key(keys) -> EncryptionKey | None:
    """The key websites should encrypt to: the newest active one."""
    active = [k for k in keys if k.status == EncryptionKeyStatus.ACTIVE]
    return max(active, key=lambda k: (k.created_at, k.pk), default=None)


# ---------------------------------------------------------------------------
# Encryption keys: the verify path's per-process keyring
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantKeyring:
    version: str | None
    loaded_at: float
    active: tuple[tuple[str, jose.DecrypterKey], ...]  # newest first
    retired_kids: frozenset[str] = field(default_factory=frozenset)


_keyrings: dict[int, TenantKeyring] = {}
_lock = threading.Lock()


def keyring_for(tenant_id: int) -> TenantKeyring:
    """The tenant's opened active keys; one shared-cache read when nothing changed."""
    version = sharedcache.get(_tenant_version_key(tenant_id))
    if version is None:
        sharedcache.add(_tenant_version_key(tenant_id), secrets.token_hex(8), VERSION_TTL)
        version = sharedcache.get(_tenant_version_key(tenant_id))
    local = _keyrings.get(tenant_id)
    now = time.monotonic()
    if (
        local is not None
        and version is not None
        and local.version == version
        and now - local.loaded_at < LOCAL_MAX_AGE_SECONDS
    ):
        return local
    rows = EncryptionKey.objects.filter(tenant_id=tenant_id).order_by("-created_at", "-id")
    active, retired = [], set()
    for kid, status, sealed in rows.values_list("kid", "status", "private_key_encrypted"):
        if status == EncryptionKeyStatus.ACTIVE:
            try:
                active.append((kid, _decrypter(sealed, _enc_aad(tenant_id, kid))))
            except kek.KekError as exc:
                # An operations problem (KEK missing from the environment): the
                # key cannot decrypt, tokens to it get decryption_failed.
                log.error("encryption key %s of tenant %s cannot be opened: %s", kid, tenant_id, exc)
        else:
            retired.add(kid)
    ring = TenantKeyring(version=version, loaded_at=now, active=tuple(active), retired_kids=frozenset(retired))
    with _lock:
        if len(_keyrings) >= MAX_LOCAL_KEYRINGS:
            _keyrings.clear()
        _keyrings[tenant_id] = ring
    return ring


def is_encrypted(token: str | None) -> bool:
    return bool(token) and jose.looks_like_jwe(token)


def decrypt_interaction_data(*, tenant_id: int, token: str, max_bytes: int) -> str:
    """The compact JWS inside a compact JWE sent to this tenant; engine.VerificationError otherwise.

    Order: size, strict format and algorithm allowlist (no key touched), key
    choice by `kid` (else every active key), decryption, then the plaintext
    must itself be a compact JWS, which the caller verifies like a plain token.
    """
    try:
        jwe = jose.parse_compact_jwe(token, max_bytes=max_bytes)
    except jose.TokenRefused as exc:
        raise engine.VerificationError(exc.code, exc.message) from None
    ring = keyring_for(tenant_id)
    if jwe.kid is not None and jwe.kid in ring.retired_kids:
        raise engine.VerificationError(
            "decryption_failed",
            f"This JWE was encrypted to the platform key '{jwe.kid[:64]}', which is retired; "
            "encrypt to the key marked 'publish this key' on the Encryption keys page.",
        )
    if not ring.active:
        raise engine.VerificationError(
            "decryption_failed",
            "This tenant has no active encryption key; create one on the Encryption keys page or the API.",
        )
    chosen = [d for kid, d in ring.active if kid == jwe.kid] or [d for _, d in ring.active]
    plaintext = None
    for decrypter in chosen:
        try:
            plaintext = decrypter.decrypt(jwe)
            break
        except jose.TokenRefused:
            continue
    if plaintext is None:
        raise engine.VerificationError(
            "decryption_failed",
            "The JWE could not be decrypted with this tenant's active encryption keys "
            "(wrong key, or the ciphertext or tag was changed).",
        )
    try:
        inner = plaintext.decode("ascii")
    except UnicodeDecodeError:
        inner = ""
    if inner.count(".") != 2:
        raise engine.VerificationError(
            "malformed_token", "The JWE decrypted, but its content is not a compact JWS; encrypt the signed JWS."
        )
    return inner


def encrypt_for_tenant(tenant, compact_jws: str) -> str:
    """Encrypt a compact JWS to the tenant's newest active key, as a website would (playground).

    Raises EncryptionKey.DoesNotExist when the tenant has no active key.
    """
    key = (
        EncryptionKey.objects.filter(tenant=tenant, status=EncryptionKeyStatus.ACTIVE)
        .order_by("-created_at", "-id")
        .first()
    )
    if key is None:
        raise EncryptionKey.DoesNotExist("This tenant has no active encryption key.")
    return jose.encrypt_compact_jwe(key.public_key_pem, compact_jws.encode("ascii"), kid=key.kid)


def describe_jwe(token: str) -> dict:
    """The protected header of a compact JWE (decoded, not decrypted); engine.VerificationError when malformed."""
    try:
        return jose.jwe_protected_header(token)
    except jose.TokenRefused as exc:
        raise engine.VerificationError(exc.code, exc.message) from None


# ---------------------------------------------------------------------------
# Session-signing keys (the portal's own, not tenant-owned)
# ---------------------------------------------------------------------------

SESSION_VERSION_KEY = "sessionkeys:v"


@dataclass(frozen=True)
class SessionKeyring:
    version: str | None
    loaded_at: float
    signer: jose.SessionSigner | None  # the newest active key
    verifiers: dict  # kid -> jose.VerifierKey, every active key


_session_ring: dict[str, SessionKeyring] = {}


def _invalidate_session_keys_on_commit() -> None:
    def publish():
        sharedcache.set(SESSION_VERSION_KEY, secrets.token_hex(8), VERSION_TTL)
        _session_ring.clear()

    _session_ring.clear()
    transaction.on_commit(publish)


def session_key_create() -> SessionSigningKey:
    private_key = jose.generate_session_ec_key()
    facts = jose.public_facts_of(private_key)
    kid = f"ses-{timezone.now():%Y%m%d}-{secrets.token_hex(4)}"
    with transaction.atomic():
        key = SessionSigningKey.objects.create(
            kid=kid,
            public_key_pem=facts.spki_pem,
            private_key_encrypted=kek.seal(jose.private_key_der(private_key), aad=_session_aad(kid)),
        )
        _invalidate_session_keys_on_commit()
    return key


def session_keys_retire_superseded(*, now=None) -> int:
    """Retire active keys that a newer key replaced longer ago than a session token lives."""
    now = now or timezone.now()
    lifetime = settings.SIGNET["SESSION_TOKEN_SECONDS"] + 60
    active = list(SessionSigningKey.objects.filter(status=EncryptionKeyStatus.ACTIVE).order_by("-created_at", "-id"))
    retired = 0
    with transaction.atomic():
        for newer, older in itertools.pairwise(active):
            if (now - newer.created_at).total_seconds() > lifetime:
                retired += SessionSigningKey.objects.filter(pk=older.pk, status=EncryptionKeyStatus.ACTIVE).update(
                    status=EncryptionKeyStatus.RETIRED, retired_at=now
                )
        if retired:
            _invalidate_session_keys_on_commit()
    return retired


def session_key_rotate() -> tuple[SessionSigningKey, int]:
    """A new signing key; keys superseded long enough ago to have signed only expired tokens retire."""
    retired = session_keys_retire_superseded()
    return session_key_create(), retired


def session_keyring() -> SessionKeyring:
    version = sharedcache.get(SESSION_VERSION_KEY)
    if version is None:
        sharedcache.add(SESSION_VERSION_KEY, secrets.token_hex(8), VERSION_TTL)
        version = sharedcache.get(SESSION_VERSION_KEY)
    local = _session_ring.get("ring")
    now = time.monotonic()
    if local is not None and version is not None and local.version == version and now - local.loaded_at < 60:
        return local
    rows = list(
        SessionSigningKey.objects.filter(status=EncryptionKeyStatus.ACTIVE)
        .order_by("-created_at", "-id")
        .values_list("kid", "public_key_pem", "private_key_encrypted")
    )
    signer = _signer(rows[0][2], _session_aad(rows[0][0]), rows[0][0]) if rows else None
    verifiers = {kid: jose.load_verifier(pem) for kid, pem, _ in rows}
    ring = SessionKeyring(version=version, loaded_at=now, signer=signer, verifiers=verifiers)
    _session_ring["ring"] = ring
    return ring


def session_signer() -> jose.SessionSigner:
    """The newest active session key, created on first need."""
    ring = session_keyring()
    if ring.signer is None:
        session_key_create()
        _session_ring.clear()
        ring = session_keyring()
    return ring.signer


def session_jwks() -> dict:
    """Public JWKs of every active session key (the newest signs; older ones still verify)."""
    out = []
    for kid, verifier in session_keyring().verifiers.items():
        jwk = dict(verifier.facts.jwk)
        jwk.update({"kid": kid, "alg": jose.SESSION_ALG, "use": "sig"})
        out.append(jwk)
    return {"keys": out}


def session_token_claims(token: str, *, max_bytes: int) -> dict:
    """Claims of a session token whose signature and issuer this portal checked (expiry NOT checked).

    Raises engine.VerificationError: malformed_token, token_too_large, bad_signature.
    """
    try:
        parsed = jose.parse_session_token(token, max_bytes=max_bytes)
    except jose.TokenRefused as exc:
        raise engine.VerificationError(exc.code, exc.message) from None
    verifier = session_keyring().verifiers.get(parsed.header["kid"])
    if verifier is None or not parsed.verified_by(verifier):
        raise engine.VerificationError("bad_signature", "This session token was not signed by this portal.")
    claims = parsed.claims
    if claims.get("iss") != settings.SIGNET["PORTAL_ISSUER"]:
        raise engine.VerificationError("bad_signature", "This session token was not issued by this portal.")
    return claims


# ---------------------------------------------------------------------------
# KEK rotation
# ---------------------------------------------------------------------------


def platform_keys_rekey(*, with_development_kek: bool = False) -> tuple[int, int, str]:
    """Re-encrypt every private half under the current SIGNET_KEK, all or nothing.

    Every row is opened with the KEK it names (SIGNET_KEK, SIGNET_KEK_PREVIOUS,
    or with `with_development_kek` the one derived from SECRET_KEY) and sealed
    again under SIGNET_KEK in one transaction; one failure rolls back every
    row and raises kek.KekError naming the row. -> (encryption keys, session keys, KEK id).
    """
    ring = kek.keyring(with_development=with_development_kek)
    enc_count = session_count = 0
    with transaction.atomic():
        for key in EncryptionKey.objects.select_for_update().order_by("pk"):
            aad = _enc_aad(key.tenant_id, key.kid)
            try:
                clear = kek.unseal(key.private_key_encrypted, aad=aad, ring=ring)
            except kek.KekError as exc:
                raise kek.KekError(f"encryption key {key.kid} of tenant {key.tenant_id}: {exc}") from None
            EncryptionKey.objects.filter(pk=key.pk).update(private_key_encrypted=kek.seal(clear, aad=aad))
            enc_count += 1
        for key in SessionSigningKey.objects.select_for_update().order_by("pk"):
            aad = _session_aad(key.kid)
            try:
                clear = kek.unseal(key.private_key_encrypted, aad=aad, ring=ring)
            except kek.KekError as exc:
                raise kek.KekError(f"session key {key.kid}: {exc}") from None
            SessionSigningKey.objects.filter(pk=key.pk).update(private_key_encrypted=kek.seal(clear, aad=aad))
            session_count += 1
    return enc_count, session_count, ring.current.id
