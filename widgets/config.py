"""Per-process snapshots of what verification needs: a widget's policy, keys and allowlist.

The verify path runs on every chat start, so it must not re-read the database
or re-parse PEM keys each time. Each process keeps one immutable snapshot per
widget and checks, with one shared-cache read, that the widget's config version
has not moved. Every write that matters (policy, enforcement, keys, allowlist)
bumps `Widget.config_version` in the database and publishes the new version
to the shared cache on commit, so every process on every machine drops its
stale snapshot on its next request. A key's expiry needs no write: candidates
are recomputed when the clock passes the next `expires_at`.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction
from django.http import Http404

from keys import engine, jose
from portal import sharedcache

VERSION_TTL = 24 * 3600
MAX_LOCAL_SNAPSHOTS = 20_000
# A hard bound on staleness even if a version publish is lost (cache outage, a
# non-atomic `add` in the file cache): every process re-reads a widget at least
# this often. One cheap reload per widget per process every few seconds.
MAX_LOCAL_AGE_SECONDS = 5.0

_local: dict[str, WidgetSnapshot] = {}
_lock = threading.Lock()


def version_key(public_id: str) -> str:
    """The shared-cache key of a widget's config version (the API reads it with the API key)."""
    return f"wv:{public_id}"


@dataclass(frozen=True)
class KeyRow:
    pk: int
    kid: str
    status: str
    expires_at: float | None
    revoked_at: datetime | None
    fingerprint_sha256: str
    verifier: jose.VerifierKey
    is_test: bool = False

    def candidate(self, now: float, *, allow_test: bool) -> engine.CandidateKey:
        status, detail = self.status, ""
        if status == "active" and self.expires_at is not None and self.expires_at <= now:
            status = "expired"
        if status == "active" and self.is_test and not allow_test:
            # Test keys (e.g. made in the playground, possibly by a developer) never vouch for a real visitor.
            status = "a test key"
            detail = "test keys verify only in the playground's dry run; register the production public key"
        elif status == "expired" and self.expires_at is not None:
            detail = f"expired at {datetime.fromtimestamp(self.expires_at, tz=UTC):%Y-%m-%d %H:%M:%S} UTC"
        elif status == "revoked" and self.revoked_at is not None:
            detail = f"revoked at {self.revoked_at:%Y-%m-%d %H:%M} UTC"
        return engine.CandidateKey(
            kid=self.kid,
            status=status,
            verifier=self.verifier,
            fingerprint_sha256=self.fingerprint_sha256,
            status_detail=detail,
        )


@dataclass(frozen=True)
class WidgetSnapshot:
    pk: int
    public_id: str
    tenant_id: int
    version: int
    enforcement: str
    policy: engine.Policy
    require_token: bool
    encryption_required: bool
    session_subject_claim: str
    allowlist: frozenset[str]
    key_rows: tuple[KeyRow, ...]
    loaded_at: float = 0.0  # time.monotonic() when read from the database
    _candidates: dict = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def key_pks(self) -> dict[str, int]:
        """kid -> SigningKey pk, built once per snapshot (read on every successful verification)."""
        return {row.kid: row.pk for row in self.key_rows}

    def candidates(self, now: float, *, allow_test: bool = False) -> tuple[engine.CandidateKey, ...]:
        """The widget's keys with their status at `now`; rebuilt only when an expiry passes.

        Test keys count as active only when `allow_test` (dry runs: the playground, verify_token).
        """
        cached = self._candidates.get(allow_test)
        if cached is not None and now < cached[0]:
            return cached[1]
        rows = self.key_rows
        upcoming = [r.expires_at for r in rows if r.status == "active" and r.expires_at and r.expires_at > now]
        result = tuple(row.candidate(now, allow_test=allow_test) for row in rows)
        self._candidates[allow_test] = (min(upcoming, default=float("inf")), result)
        return result


def _load(tenant_id: int, public_id: str) -> WidgetSnapshot:
    from keys.models import SigningKey
    from widgets.models import Widget

    widget = Widget.objects.filter(tenant_id=tenant_id, public_id=public_id).first()
    if widget is None:
        raise Http404("No such widget.")
    rows = []
    for key in SigningKey.objects.filter(widget=widget).order_by("-created_at", "-id"):
        rows.append(
            KeyRow(
                pk=key.pk,
                kid=key.kid,
                status=key.status,
                expires_at=key.expires_at.timestamp() if key.expires_at else None,
                revoked_at=key.revoked_at,
                fingerprint_sha256=key.fingerprint_sha256,
                verifier=jose.load_verifier(key.public_key_pem),
                is_test=key.is_test,
            )
        )
    labels = frozenset(widget.unsigned_fields.values_list("label", flat=True))
    return WidgetSnapshot(
        pk=widget.pk,
        public_id=widget.public_id,
        tenant_id=widget.tenant_id,
        version=widget.config_version,
        enforcement=widget.enforcement,
        policy=engine.Policy(
            leeway_seconds=widget.leeway_seconds,
            max_token_age_seconds=widget.max_token_age_seconds,
            require_exp=widget.require_exp,
            max_lifetime_seconds=widget.max_lifetime_seconds,
            required_claims=dict(widget.required_claims or {}),
            expected_audience=widget.expected_audience,
            expected_issuer=widget.expected_issuer,
            max_token_bytes=_token_limit(),
        ),
        require_token=widget.require_token,
        encryption_required=widget.encryption_required,
        session_subject_claim=widget.session_subject_claim,
        allowlist=labels,
        key_rows=tuple(rows),
        loaded_at=time.monotonic(),
    )


def _token_limit() -> int:
    from django.conf import settings

    return settings.SIGNET["TOKEN_MAX_BYTES"]


_UNKNOWN = object()


def snapshot_for(*, tenant_id: int, public_id: str, prefetched: dict | None = None) -> WidgetSnapshot:
    """The widget's current snapshot; 404 when the tenant has no such widget.

    `prefetched`: shared-cache values already read in this request (saves the version round trip).
    """
    shared_version = (prefetched or {}).get(version_key(public_id), _UNKNOWN)
    if shared_version is _UNKNOWN:
        shared_version = sharedcache.get(version_key(public_id))
    local = _local.get(public_id)
    if (
        local is not None
        and local.tenant_id == tenant_id
        and shared_version == local.version
        and time.monotonic() - local.loaded_at < MAX_LOCAL_AGE_SECONDS
    ):
        return local
    snapshot = _load(tenant_id, public_id)
    # `add`, not `set`: never overwrite a newer version published by a writer.
    sharedcache.add(version_key(public_id), snapshot.version, VERSION_TTL)
    with _lock:
        if len(_local) >= MAX_LOCAL_SNAPSHOTS:
            _local.clear()
        _local[public_id] = snapshot
    return snapshot


def widget_changed(widget_id: int) -> None:
    """Record that a widget's policy, keys or allowlist changed: bump its config version and
    publish it on commit. Model saves and deletes reach this through widgets/signals.py; a
    service calls it itself only after a write that sends no signal (.update(), bulk_create)."""
    from django.db.models import F

    from widgets.models import Widget

    public_id = Widget.objects.filter(pk=widget_id).values_list("public_id", flat=True).first()
    if public_id is None:
        return
    Widget.objects.filter(pk=widget_id).update(config_version=F("config_version") + 1)
    invalidate_on_commit(public_id)


def invalidate_on_commit(public_id: str) -> None:
    """Publish the widget's new config version to every process once the change commits."""

    def publish():
        from widgets.models import Widget

        version = Widget.objects.filter(public_id=public_id).values_list("config_version", flat=True).first()
        if version is None:
            sharedcache.delete(version_key(public_id))
        else:
            sharedcache.set(version_key(public_id), version, VERSION_TTL)
        _local.pop(public_id, None)

    # Drop it now too: this process (and a test's transaction) sees the change at once;
    # a reader that re-caches the old version before commit is overwritten by `publish`.
    _local.pop(public_id, None)
    sharedcache.delete(version_key(public_id))
    transaction.on_commit(publish)
