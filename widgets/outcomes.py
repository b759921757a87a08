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
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction

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
    claims = body.get("claims")
    if body.get("verified"):
        payload_format = "claims" if claims is not None else "fields"
    else:
        payload_format = "none" if item.token is None else ""
    would = body.get("would_reject") or {}
    # A plain tuple (COLUMNS order): building a model instance per verification cost as much as verifying.
    row = (
        snapshot.pk,
        datetime.now(tz=UTC),
        outcome_code(status, body),
        would.get("code", ""),
        (body.get("kid") or "")[:200],
        (body.get("alg") or "")[:16],
        payload_format,
        bool(body.get("encrypted")),
        len(item.token or ""),
        min(int(latency * 1_000_000), 2**31 - 1),
        api_key_prefix[:16],
        [f["label"] for f in item.unsigned[:MAX_LABELS]],
        _enforce_drops(snapshot, item, body)[:MAX_LABELS],
    )
    global _last_flush
    with _lock:
        _buffer.append(row)
        due = len(_buffer) >= _flush_every() or time.monotonic() - _last_flush >= _flush_seconds()
    if due:
        flush()


def _enforce_drops(snapshot: WidgetSnapshot, item: VerifyItem, body: dict) -> list[str]:
    """The unsigned labels `enforce` would drop (not allowlisted, or shadowing a signed field),
    whatever the widget's mode: the enforce preview counts them before anyone enforces."""
    signed = {f["label"] for f in body.get("fields") or () if f.get("signed")}
    return [e["label"] for e in item.unsigned if e["label"] not in snapshot.allowlist or e["label"] in signed]


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
            if connection.vendor == "postgresql":
                _copy(rows)
            else:
                VerificationLog.objects.bulk_create([_model(r) for r in rows], batch_size=500)
        return len(rows)
    except DatabaseError as exc:
        log.warning("verification log: batch of %d failed (%s); writing row by row", len(rows), exc.__class__.__name__)
    written = 0
    for row in rows:  # one bad row must not cost every tenant its log
        try:
            with transaction.atomic():
                _model(row).save(force_insert=True)
            written += 1
        except DatabaseError:
            pass
    if written < len(rows):
        log.warning("verification log: %d rows not written", len(rows) - written)
    return written


COLUMNS = (
    "widget_id",
    "at",
    "code",
    "would_reject",
    "kid",
    "alg",
    "payload_format",
    "encrypted",
    "payload_bytes",
    "latency_us",
    "api_key_prefix",
    "unsigned_labels",
    "rejected_labels",
)


def _model(row):
    from widgets.models import VerificationLog

    return VerificationLog(**dict(zip(COLUMNS, row, strict=True)))


def _copy(rows) -> None:
    """PostgreSQL COPY: one round trip, no per-row ORM work."""
    from widgets.models import VerificationLog

    table = VerificationLog._meta.db_table
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row((*r[:11], json.dumps(r[11]), json.dumps(r[12])))


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
