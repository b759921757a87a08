"""The verification log: every verification outcome, counted cheaply.

What it holds: time (to the second), result code, kid, algorithm, payload format,
the API key's prefix, the LABELS of unsigned fields, token size and latency. Never
the token, claim values or field data.

Identical outcomes in the same second are rolled up in the process into one row
with a `count`, the largest token and the mean and slowest latency: a burst of
chats, or a 100-token batch, is one row, not one per verification. One row per
verification had cost about 15 % of batch throughput (a PostgreSQL COPY row and
its index entries each), and it would grow a busy widget's table by hundreds of
millions of rows a day, which the insights queries would then have to scan.
A widget with a chat every few seconds still gets a row per verification.

The rows are buffered per process and written with one bulk INSERT (COPY on
PostgreSQL) when FLUSH_EVERY rows are waiting or every FLUSH_SECONDS, whichever
comes first, so verification never pays a database write.

Servers write from a background thread of each process (VERIFICATION_LOG_BACKGROUND):
the request that fills the buffer no longer waits for the write, which had put
a 10-20 ms step into one request in 200 and into every request queued behind it.
The thread waits on PostgreSQL without holding the GIL. A process that dies loses
at most one buffer of outcomes, never a verification; a database outage drops
rows (logged), and the buffer never holds more than MAX_BUFFERED rows.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import orjson
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction

from portal.background import ProcessThread
from widgets.config import WidgetSnapshot
from widgets.verification import VerifyItem

log = logging.getLogger("signet.outcomes")

FLUSH_EVERY = 200
FLUSH_SECONDS = 2.0
MAX_LABELS = 50
MAX_BUFFERED = 20_000  # rows; beyond this (the database is not keeping up) new rows are dropped

# Rolled-up outcomes waiting to be written: row key (ROW_KEY order) -> [count, latency sum, slowest, largest token]
_buffer: dict[tuple, list[int]] = {}
_lock = threading.Lock()
_last_flush = time.monotonic()
_dropped = 0
_wake = threading.Event()
_stop = threading.Event()

MAX_LATENCY_US = 2**31 - 1


def outcome_code(status: int, body: dict) -> str:
    if status != 200:
        return body.get("error", {}).get("code", "error")
    return "ok" if body.get("verified") else "unsigned"


def record(
    snapshot: WidgetSnapshot,
    item: VerifyItem,
    status: int,
    body: dict,
    enforce_drops: list[str],
    *,
    latency: float,
    api_key_prefix: str,
) -> None:
    """Queue the outcome of one verification (the API's single and batch calls).

    `enforce_drops`: the unsigned labels `enforce` would drop (not allowlisted, or shadowing a signed
    field), whatever the widget's mode, so the enforce preview counts them before anyone enforces.
    """
    get = body.get
    if get("verified"):
        payload_format = "fields" if get("claims") is None else "claims"
    else:
        payload_format = "none" if item.token is None else ""
    would = get("would_reject")
    # A plain tuple (ROW_KEY order): building a model instance per verification cost as much as verifying.
    key = (
        snapshot.pk,
        int(time.time()),
        outcome_code(status, body),
        would["code"] if would else "",
        (get("kid") or "")[:200],
        (get("alg") or "")[:16],
        payload_format,
        bool(get("encrypted")),
        api_key_prefix[:16],
        tuple([f["label"] for f in item.unsigned[:MAX_LABELS]]) if item.unsigned else (),
        tuple(enforce_drops[:MAX_LABELS]),
    )
    micros = min(int(latency * 1_000_000), MAX_LATENCY_US)
    size = len(item.token or "")
    global _dropped
    with _lock:
        row = _buffer.get(key)
        if row is not None:  # the same outcome again within this second: count it
            row[0] += 1
            row[1] += micros
            if micros > row[2]:
                row[2] = micros
            if size > row[3]:
                row[3] = size
            return
        if len(_buffer) >= MAX_BUFFERED:
            _dropped += 1
            return
        _buffer[key] = [1, micros, micros, size]
        every, seconds = _thresholds()
        due = len(_buffer) >= every or time.monotonic() - _last_flush >= seconds
    if not due:
        return
    if settings.SIGNET["VERIFICATION_LOG_BACKGROUND"]:
        _flusher.ensure()
        if not _wake.is_set():  # rows keep arriving until the writer takes the buffer: wake it once
            _wake.set()
    else:
        flush()


def _flush_forever() -> None:
    """The background writer: flush when woken (buffer full) or every FLUSH_SECONDS, until stopped."""
    stop = _stop
    while not stop.is_set():
        _wake.wait(timeout=_thresholds()[1])
        _wake.clear()
        try:
            close_old_connections()  # this thread's own connection: drop it if broken or too old
            flush()
        except Exception:  # the writer must outlive any one failure
            log.exception("verification log: background write failed")
    connection.close()


_flusher = ProcessThread(_flush_forever, "signet-verification-log")


def stop_background(timeout: float = 5.0) -> None:
    """Stop this process's writer after a last flush, and close its database connection."""
    global _stop
    with _lock:
        writer = _flusher.forget()
        stopping, _stop = _stop, threading.Event()
    stopping.set()
    _wake.set()
    if writer is not None:
        writer.join(timeout)
    flush()


def _thresholds() -> tuple[int, float]:
    """(rows, seconds): a buffer is written when it holds this many rows or is this old."""
    signet = settings.SIGNET
    return (
        signet.get("VERIFICATION_LOG_FLUSH_EVERY", FLUSH_EVERY),
        signet.get("VERIFICATION_LOG_FLUSH_SECONDS", FLUSH_SECONDS),
    )


def flush() -> int:
    """Write the buffered rows; returns how many outcomes they count. Failures are logged, never raised."""
    from widgets.models import VerificationLog

    global _buffer, _last_flush, _dropped
    with _lock:
        buffered, _buffer = _buffer, {}
        _last_flush = time.monotonic()
        dropped, _dropped = _dropped, 0
    if dropped:
        log.warning("verification log: %d outcomes dropped, the buffer was full (%d rows)", dropped, MAX_BUFFERED)
    if not buffered:
        return 0
    rows = [_row(key, sums) for key, sums in buffered.items()]
    outcomes = sum(sums[0] for sums in buffered.values())
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                _copy(rows)
            else:
                VerificationLog.objects.bulk_create([_model(r) for r in rows], batch_size=500)
        return outcomes
    except DatabaseError as exc:
        log.warning("verification log: batch of %d rows failed (%s); writing row by row", len(rows), type(exc).__name__)
    written = 0
    for row in rows:  # one bad row must not cost every tenant its log
        try:
            with transaction.atomic():
                _model(row).save(force_insert=True)
            written += row[_COUNT_AT]
        except DatabaseError:
            pass
    if written < outcomes:
        log.warning("verification log: %d outcomes not written", outcomes - written)
    return written


# The in-process row key: what makes two outcomes the same row (widget, second, then the columns below).
ROW_KEY = (
    "widget_id",
    "at",
    "code",
    "would_reject",
    "kid",
    "alg",
    "payload_format",
    "encrypted",
    "api_key_prefix",
    "unsigned_labels",
    "rejected_labels",
)
COLUMNS = (*ROW_KEY, "count", "latency_us", "latency_max_us", "payload_bytes")
_COUNT_AT = COLUMNS.index("count")


def _row(key: tuple, sums: list[int]) -> tuple:
    """A row key and its sums -> a row in COLUMNS order (`at` as a datetime, labels as lists)."""
    widget_id, second, *middle, unsigned, rejected = key
    count, total, slowest, largest = sums
    return (
        widget_id,
        datetime.fromtimestamp(second, tz=UTC),
        *middle,
        list(unsigned),
        list(rejected),
        count,
        round(total / count),
        slowest,
        largest,
    )


def _model(row):
    from widgets.models import VerificationLog

    return VerificationLog(**dict(zip(COLUMNS, row, strict=True)))


_LABELS_AT = (COLUMNS.index("unsigned_labels"), COLUMNS.index("rejected_labels"))  # adjacent


def _copy(rows) -> None:
    """PostgreSQL COPY: one round trip, no per-row ORM work."""
    from widgets.models import VerificationLog

    table = VerificationLog._meta.db_table
    first, last = _LABELS_AT
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row((*r[:first], _json_text(r[first]), _json_text(r[last]), *r[last + 1 :]))


def _json_text(labels: list[str]) -> str:
    return orjson.dumps(labels).decode() if labels else "[]"


def prune(*, days: int | None = None) -> int:
    from widgets.models import VerificationLog

    days = settings.SIGNET["VERIFICATION_LOG_RETENTION_DAYS"] if days is None else days
    cutoff = datetime.now(tz=UTC) - timedelta(days=days)
    deleted, _ = VerificationLog.objects.filter(at__lt=cutoff).delete()
    return deleted


def _forked() -> None:
    """A forked child writes only its own rows, with its own writer and fresh locks."""
    global _lock, _buffer, _dropped, _wake, _stop
    _lock = threading.Lock()
    _wake, _stop = threading.Event(), threading.Event()
    _flusher.forget()
    _buffer = {}
    _dropped = 0


os.register_at_fork(after_in_child=_forked)


@atexit.register
def _flush_at_exit():  # pragma: no cover - process shutdown
    try:
        stop_background()  # waits for a write in progress, then writes what is left
    except Exception:  # noqa: BLE001, S110 - the interpreter is going away
        pass
