"""Single use of a `jti` per widget, across processes and machines.

The key is the `jti` claim (hashed), never the token string: a re-spelled or
malleated signature (ECDSA high-S) of the same token carries the same `jti` and
is refused. Redis (`SET NX` with an absolute expiry) when REDIS_URL is set,
else a unique row in the database. Unlike the shared cache, this store fails
CLOSED: if it cannot answer, the token is refused with replay_store_unavailable.
"""

import hashlib
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction

log = logging.getLogger("signet.replay")


class ReplayStoreUnavailable(Exception):
    pass


_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5, health_check_interval=30
        )
    return _redis_client


def _digest(jti: str) -> str:
    return hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()


def consume(*, widget_pk: int, jti: str, expires_at: float) -> bool:
    """Record `jti` for the widget until `expires_at` (POSIX seconds). True the first time, False on replay."""
    digest = _digest(jti)
    if settings.REDIS_URL:
        try:
            return bool(_redis().set(f"signet:jti:{widget_pk}:{digest}", 1, nx=True, exat=int(expires_at) + 1))
        except Exception as exc:
            log.error("replay store (redis) unavailable: %s; refusing tokens with a jti", exc.__class__.__name__)
            raise ReplayStoreUnavailable from exc
    return _consume_db(widget_pk, digest, datetime.fromtimestamp(expires_at, tz=UTC))


def _consume_db(widget_pk: int, digest: str, expires_at: datetime) -> bool:
    from widgets.models import ReplayRecord

    try:
        with transaction.atomic():
            ReplayRecord.objects.create(widget_id=widget_pk, jti_hash=digest, expires_at=expires_at)
        return True
    except IntegrityError:
        pass
    except DatabaseError as exc:
        log.error("replay store (database) unavailable: %s", exc.__class__.__name__)
        raise ReplayStoreUnavailable from exc
    # A record past its lifetime does not block: take it over atomically.
    now = datetime.now(tz=UTC)
    taken = ReplayRecord.objects.filter(widget_id=widget_pk, jti_hash=digest, expires_at__lte=now).update(
        expires_at=expires_at, created_at=now
    )
    return taken == 1


def prune(*, now: datetime | None = None) -> int:
    from widgets.models import ReplayRecord

    deleted, _ = ReplayRecord.objects.filter(expires_at__lte=now or datetime.now(tz=UTC)).delete()
    return deleted
