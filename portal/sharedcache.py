"""The shared cache (Redis when REDIS_URL is set, else a file cache shared by the
processes of one machine), used only for things that may be lost: lookups,
version counters and rate-limit counters. A cache outage degrades to the
database and never fails a request; replay state does NOT live here (see
widgets/replay.py, which fails closed)."""

import logging
import time

from django.core.cache import cache

log = logging.getLogger("signet.cache")


def _warn(op: str, key: str, exc: Exception) -> None:
    log.warning("shared cache %s %s failed: %s", op, key, exc.__class__.__name__)


def get(key: str, default=None):
    try:
        return cache.get(key, default)
    except Exception as exc:  # noqa: BLE001 - any backend failure means "not cached"
        _warn("get", key, exc)
        return default


def set(key: str, value, ttl: int | None) -> None:  # noqa: A001
    try:
        cache.set(key, value, ttl)
    except Exception as exc:  # noqa: BLE001
        _warn("set", key, exc)


def add(key: str, value, ttl: int) -> bool:
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


def get_many(keys: list[str]) -> dict:
    try:
        return cache.get_many(keys)
    except Exception as exc:  # noqa: BLE001
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
