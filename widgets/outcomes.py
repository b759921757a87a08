"""The verification log: one row per verification outcome, written cheaply.

What a row holds: time, result code, kid, algorithm, payload format, token size,
latency, the API key's prefix, and the LABELS of unsigned fields. Never the
token, claim values or field data. Rows are buffered per process and written
with one bulk INSERT every FLUSH_EVERY rows or FLUSH_SECONDS, whichever comes
first, so verification does not pay a database write per request. A process
that dies loses at most one buffer of log rows, never a verification.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction

from widgets.config import WidgetSnapshot
from widgets.verification import VerifyItem

log = logging.getLogger("signet.outcomes")

FLUSH_EVERY = 200
FLUSH_SECONDS = 2.0
MAX_LABELS = 50

_buffer: list = []
_lock = threading.Lock()
_last_flush = time.monotonic()


def outcome_code(status: int, body: dict) -> str:
    if status != 200:
        return body.get("error", {}).get("code", "error")
    return "ok" if body.get("verified") else "unsigned"


def record(
    snapshot: WidgetSnapshot, item: VerifyItem, status: int, body: dict, *, latency: float, api_key_prefix: str
) -> None:
    """Queue the outcome of one verification (the API's single and batch calls)."""
    from widgets.models import VerificationLog

    claims = body.get("claims")
    if body.get("verified"):
        payload_format = "claims" if claims is not None else "fields"
    else:
        payload_format = "none" if item.token is None else ""
    would = body.get("would_reject") or {}
    row = VerificationLog(
        widget_id=snapshot.pk,
        at=datetime.now(tz=UTC),
        code=outcome_code(status, body),
        would_reject=would.get("code", ""),
        kid=(body.get("kid") or "")[:200],
        alg=(body.get("alg") or "")[:16],
        payload_format=payload_format,
        encrypted=bool(body.get("encrypted")),
        payload_bytes=len(item.token or ""),
        latency_us=min(int(latency * 1_000_000), 2**31 - 1),
        api_key_prefix=api_key_prefix[:16],
        unsigned_labels=[f["label"] for f in item.unsigned[:MAX_LABELS]],
        rejected_labels=list(body.get("rejected_unsigned") or [])[:MAX_LABELS],
    )
    global _last_flush
    with _lock:
        _buffer.append(row)
        due = len(_buffer) >= _flush_every() or time.monotonic() - _last_flush >= _flush_seconds()
    if due:
        flush()


def _flush_every() -> int:
    return settings.SIGNET.get("VERIFICATION_LOG_FLUSH_EVERY", FLUSH_EVERY)


def _flush_seconds() -> float:
    return settings.SIGNET.get("VERIFICATION_LOG_FLUSH_SECONDS", FLUSH_SECONDS)


def flush() -> int:
    """Write the buffered rows; returns how many. Failures are logged, never raised."""
    from widgets.models import VerificationLog

    global _buffer, _last_flush
    with _lock:
        rows, _buffer = _buffer, []
        _last_flush = time.monotonic()
    if not rows:
        return 0
    try:
        with transaction.atomic():
            VerificationLog.objects.bulk_create(rows, batch_size=500)
        return len(rows)
    except DatabaseError as exc:
        log.warning("verification log: batch of %d failed (%s); writing row by row", len(rows), exc.__class__.__name__)
    written = 0
    for row in rows:  # one bad row must not cost every tenant its log
        try:
            with transaction.atomic():
                row.save(force_insert=True)
            written += 1
        except DatabaseError:
            pass
    if written < len(rows):
        log.warning("verification log: %d rows not written", len(rows) - written)
    return written


def prune(*, days: int | None = None) -> int:
    from widgets.models import VerificationLog

    days = settings.SIGNET["VERIFICATION_LOG_RETENTION_DAYS"] if days is None else days
    cutoff = datetime.now(tz=UTC) - timedelta(days=days)
    deleted, _ = VerificationLog.objects.filter(at__lt=cutoff).delete()
    return deleted


@atexit.register
def _flush_at_exit():  # pragma: no cover - process shutdown
    try:
        flush()
    except Exception:  # noqa: BLE001, S110 - the interpreter is going away
        pass
