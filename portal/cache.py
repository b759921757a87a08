"""Django's Redis cache with one redis-py client per process, and a one-round-trip counter.

Django's RedisCacheClient builds a new redis.Redis object (with ~170 response
callbacks) on every cache call; on the verify path that was about 30 % of the
CPU. Here each connection pool gets one client, built once.
"""

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.backoff import NoBackoff
from redis.retry import Retry


class _ReusedClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusedClient

    def validate_key(self, key):
        """Redis takes any key. BaseCache's check only warns about memcached's limits, one Python
        step per character of every key on every call."""

    def incr_with_ttl(self, key, ttl: int, delta: int = 1) -> int:
        """INCRBY and, for a new key, EXPIRE, in one round trip (Django's incr is EXISTS + INCRBY)."""
        key = self.make_and_validate_key(key)
        pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
        count, _ = pipe.incrby(key, delta).expire(key, ttl, nx=True).execute()
        return count

    # --- change notices (portal/sharedcache.py's per-process mirror) ---------------------

    def publish(self, channel: str, message: str) -> None:
        self._cache.get_client(write=True).publish(channel, message)

    def subscriber(self, channel: str):
        """A PubSub on its own connection to the first server (the primary: notices and the values
        they announce must come from the same place). No retries of its own: a broken connection
        must reach the listener, which then reads through until it has subscribed again."""
        client = redis.Redis.from_url(
            self._servers[0], socket_connect_timeout=0.5, socket_timeout=15, retry=Retry(NoBackoff(), 0)
        )
        pubsub = client.pubsub(ignore_subscribe_messages=False)
        pubsub.subscribe(channel)
        return pubsub
