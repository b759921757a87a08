"""The shared cache (Redis when REDIS_URL is set, else a file cache shared by the
processes of one machine), used only for things that may be lost: lookups,
version counters and rate-limit counters. A cache outage degrades to the
database and never fails a request; replay state does NOT live here (see
widgets/replay.py, which fails closed)."""

import logging
import os
import threading
import time

from django.conf import settings
from django.core.cache import cache

from portal.background import ProcessThread

log = logging.getLogger("signet.cache")

# --- the per-process mirror -----------------------------------------------------------
# The verify path reads two shared keys per request: the API key's entry and the widget's config
# version. With Redis, each process mirrors those keys (MIRRORED prefixes) in memory while it is
# subscribed to CHANNEL, and every write to a mirrored key through this module publishes the
# key's name there, so every process drops its copy at once: warm verifications make no round
# trip at all. Until the subscription is confirmed, after any error on it, and for keys not
# mirrored, every read goes to the shared cache as before. Mirrored values are kept at most
# MIRROR_SECONDS (a net under a lost notice), and a value read while a notice arrived is not kept
# (`_generation`), so a reader can never re-mirror what a writer just changed.
MIRRORED = ("apikey:", "wv:")
MIRROR_SECONDS = 5.0
MIRROR_MAX_KEYS = 100_000
LIVENESS_SECONDS = 2.0  # the listener PINGs this often and gives up on a connection silent for ~2x
CHANNEL = "signet:changed"

_mirror: dict[str, tuple[float, object]] = {}
_mirror_lock = threading.Lock()
_generation = 0
_listening = False


def _mirror_on() -> bool:
    return bool(settings.SIGNET.get("SHARED_CACHE_MIRROR")) and hasattr(cache, "subscriber")


def mirror_reset() -> None:
    """Forget every mirrored value (after a reconnect, or a test's cache.clear())."""
    global _generation
    with _mirror_lock:
        _mirror.clear()
        _generation += 1


def _dropped(key: str) -> None:
    global _generation
    with _mirror_lock:
        _mirror.pop(key, None)
        _generation += 1


def _changed(key: str) -> None:
    """A write to `key` went through: drop it here now, and tell every other process."""
    if not key.startswith(MIRRORED):
        return
    _dropped(key)
    if hasattr(cache, "publish"):
        try:
            cache.publish(CHANNEL, key)
        except Exception as exc:  # noqa: BLE001 - the others' copies still expire within MIRROR_SECONDS
            _warn("publish", key, exc)


def _listen() -> None:
    global _listening
    backoff = 0.1
    while True:
        pubsub = None
        try:
            pubsub = cache.subscriber(CHANNEL)
            last_seen = last_ping = time.monotonic()
            while True:
                message = pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if now - last_ping >= LIVENESS_SECONDS:  # a silent dead connection must not look idle
                    pubsub.ping("signet-liveness")
                    last_ping = now
                if message is None:
                    if now - last_seen > 2 * LIVENESS_SECONDS + 1:
                        raise TimeoutError("no answer to PING")
                    continue
                last_seen = now
                if message["type"] == "subscribe":
                    mirror_reset()  # anything mirrored before now may have missed a notice
                    _listening = True
                    backoff = 0.1
                elif message["type"] == "message":
                    data = message["data"]
                    _dropped(data.decode() if isinstance(data, bytes) else data)
        except Exception as exc:  # noqa: BLE001 - reconnect; meanwhile every read goes to the shared cache
            if _listening:
                log.warning("shared cache notices lost (%s); reading through", exc.__class__.__name__)
        finally:
            _listening = False
            mirror_reset()
            if pubsub is not None:
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001, S110
                    pass
        time.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


def _forked() -> None:
    """A forked child starts with no listener, no mirror and fresh locks (the parent's may be held)."""
    global _mirror_lock, _listening, _generation
    _mirror_lock = threading.Lock()
    _listening = False
    _listener.forget()
    _mirror.clear()
    _generation += 1


os.register_at_fork(after_in_child=_forked)


_listener = ProcessThread(_listen, "signet-cache-notices")


def _mirrored_read(keys: list[str]) -> dict:
    now = time.monotonic()
    found, missing = {}, []
    for key in keys:
        hit = _mirror.get(key)
        if hit is not None and hit[0] > now:
            found[key] = hit[1]
        else:
            missing.append(key)
    if not missing:
        return found
    generation = _generation
    fetched = cache.get_many(missing)
    found.update(fetched)
    with _mirror_lock:
        if generation == _generation and _listening:
            if len(_mirror) >= MIRROR_MAX_KEYS:
                _mirror.clear()
            until = now + MIRROR_SECONDS
            for key in missing:
                if key in fetched and key.startswith(MIRRORED):
                    _mirror[key] = (until, fetched[key])
    return found


def _warn(op: str, key: str, exc: Exception) -> None:
    log.warning("shared cache %s %s failed: %s", op, key, exc.__class__.__name__)


def get(key: str, default=None):
    return get_many([key]).get(key, default)


def set(key: str, value, ttl: int | None) -> None:  # noqa: A001
    try:
        cache.set(key, value, ttl)
    except Exception as exc:  # noqa: BLE001
        _warn("set", key, exc)
    _changed(key)


def add(key: str, value, ttl: int) -> bool:
    """Fill an absent key. No notice: no process mirrors an absent key, and every change behind
    a value (a database write) is announced by its own `set` or `delete`."""
    try:
        return cache.add(key, value, ttl)
    except Exception as exc:  # noqa: BLE001
        _warn("add", key, exc)
        return False


def delete(key: str) -> None:
    try:
        cache.delete(key)
    except Exception as exc:  # noqa: BLE001
        _warn("delete", key, exc)
    _changed(key)


def get_many(keys: list[str]) -> dict:
    try:
        if _mirror_on():
            _listener.ensure()
            if _listening:
                return _mirrored_read(keys)
        return cache.get_many(keys)
    except Exception as exc:  # noqa: BLE001 - any backend failure means "not cached"
        _warn("get_many", keys[0] if keys else "", exc)
        return {}


def incr(key: str, *, ttl: int, delta: int = 1) -> int | None:
    """Atomic counter where the backend has one; None when the cache is down."""
    try:
        if hasattr(cache, "incr_with_ttl"):  # portal.cache.RedisCache: one round trip
            return cache.incr_with_ttl(key, ttl, delta)
        if cache.add(key, delta, ttl):
            return delta
        return cache.incr(key, delta)
    except ValueError:  # expired between add and incr
        return delta
    except Exception as exc:  # noqa: BLE001
        _warn("incr", key, exc)
        return None


_marked: dict[str, float] = {}


def mark_once(key: str, ttl: int) -> bool:
    """True at most once per `ttl` seconds per key across processes (for last_used_at markers),
    with no round trip while this process knows it marked the key recently."""
    now = time.monotonic()
    if _marked.get(key, 0.0) > now:
        return False
    if len(_marked) > 50_000:
        _marked.clear()
    _marked[key] = now + ttl
    return add(key, 1, ttl)
