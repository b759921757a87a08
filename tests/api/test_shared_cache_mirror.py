"""The per-process mirror of hot shared-cache keys (portal/sharedcache.py), kept exact by Redis
notices. Needs Redis (make test-pg); across real processes: tests/scale."""

import time

import pytest
from django.conf import settings
from django.core.cache import cache

from portal import sharedcache

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="the mirror needs Redis (make test-pg)")

KEY = "wv:wgt_mirror_test"


@pytest.fixture
def listening():
    sharedcache.get_many(["warm-up"])  # starts this process's listener
    deadline = time.monotonic() + 5
    while not sharedcache._listening and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sharedcache._listening
    sharedcache.mirror_reset()


@pytest.fixture
def reads(monkeypatch):
    """Every key the shared cache itself was asked for."""
    asked = []
    real = cache.get_many

    def counting(keys, *args, **kwargs):
        asked.extend(keys)
        return real(keys, *args, **kwargs)

    monkeypatch.setattr(cache, "get_many", counting)
    return asked


def wait_for(condition, seconds=3.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


# Values are put in place with `cache.set` (no notice): this process's own notice for a
# `sharedcache.set` arrives a moment later and drops the copy, which would make the counts vary.


def test_a_mirrored_key_is_read_once_then_served_from_memory(listening, reads):
    cache.set(KEY, 7, 60)
    assert sharedcache.get(KEY) == 7
    assert sharedcache.get(KEY) == 7
    assert sharedcache.get_many([KEY, "rl:not-mirrored"]) == {KEY: 7}
    assert reads == [KEY, "rl:not-mirrored"]  # the second and third reads of KEY stayed in memory


def test_another_process_write_reaches_the_mirror_through_its_notice(listening):
    cache.set(KEY, 1, 60)
    assert sharedcache.get(KEY) == 1
    cache.set(KEY, 2, 60)  # another process: writes Redis directly, then its notice arrives
    assert sharedcache.get(KEY) == 1  # no notice yet: still the mirrored value
    cache.publish(sharedcache.CHANNEL, KEY)
    assert wait_for(lambda: sharedcache.get(KEY) == 2)


def test_this_process_writes_drop_its_own_copy_at_once(listening):
    sharedcache.set(KEY, 1, 60)
    assert sharedcache.get(KEY) == 1
    sharedcache.set(KEY, 2, 60)
    assert sharedcache.get(KEY) == 2
    sharedcache.delete(KEY)
    assert sharedcache.get(KEY) is None
    assert sharedcache.add(KEY, 3, 60) is True
    assert sharedcache.get(KEY) == 3


def test_a_mirrored_value_expires_even_without_a_notice(listening, monkeypatch):
    monkeypatch.setattr(sharedcache, "MIRROR_SECONDS", 0.05)
    sharedcache.set(KEY, 1, 60)
    assert sharedcache.get(KEY) == 1
    cache.set(KEY, 2, 60)  # a notice that never comes
    time.sleep(0.1)
    assert sharedcache.get(KEY) == 2


def test_a_value_read_while_a_notice_arrives_is_not_kept(listening, monkeypatch):
    """The reader fetched the old value, the writer's notice came before it could store it: storing
    it would keep the old value until MIRROR_SECONDS."""
    cache.set(KEY, "old", 60)
    real = cache.get_many
    races = [True]

    def racing(keys, *args, **kwargs):
        found = real(keys, *args, **kwargs)
        if races and races.pop():
            cache.set(KEY, "new", 60)
            sharedcache._dropped(KEY)  # the listener handles the writer's notice
        return found

    monkeypatch.setattr(cache, "get_many", racing)
    assert sharedcache.get(KEY) == "old"
    assert sharedcache.get(KEY) == "new"


def test_reads_go_through_while_not_subscribed(listening, reads, monkeypatch):
    monkeypatch.setattr(sharedcache, "_listening", False)
    sharedcache.set(KEY, 1, 60)
    sharedcache.get(KEY)
    sharedcache.get(KEY)
    assert reads == [KEY, KEY]


def test_filling_an_absent_key_sends_no_notice(listening, monkeypatch):
    """`add` only fills an absent key, which no process mirrors: announcing it would let any client
    with made-up API keys make every worker drop its mirror."""
    sent = []
    monkeypatch.setattr(cache, "publish", lambda channel, key: sent.append(key), raising=False)
    cache.delete(KEY)
    assert sharedcache.add(KEY, 1, 60) is True
    assert sent == []
    sharedcache.set(KEY, 2, 60)
    sharedcache.delete(KEY)
    assert sent == [KEY, KEY]
