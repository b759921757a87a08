"""The mirror's listener gives up on a connection that stops answering (no Redis needed: a fake one)."""

import threading
import time

import pytest

from portal import sharedcache


class SilentSubscriber:
    """Confirms the subscription, then never answers again, not even to PING (a dead peer)."""

    def __init__(self):
        self.pings = 0
        self.messages = [{"type": "subscribe", "channel": sharedcache.CHANNEL, "data": 1}]

    def get_message(self, timeout):
        if self.messages:
            return self.messages.pop(0)
        time.sleep(timeout / 10)
        return None

    def ping(self, message=None):
        self.pings += 1

    def close(self):
        pass


class FakeCache:
    def __init__(self):
        self.subscribers = []
        self.again = threading.Event()

    def subscriber(self, channel):
        if self.subscribers:  # the reconnect: stay there (a daemon thread, ended with the test run)
            self.again.set()
            threading.Event().wait()
        self.subscribers.append(SilentSubscriber())
        return self.subscribers[-1]


def test_a_silent_connection_is_given_up_and_reads_go_through(monkeypatch):
    real = sharedcache._listener.current()
    if real is not None and real.is_alive():
        # A real listener shares the module's state and would reconnect through the fake: this test
        # runs where the mirror is off (no Redis, as in `make test`).
        pytest.skip("this process has a real listener (Redis); see the SQLite run")
    fake = FakeCache()
    monkeypatch.setattr(sharedcache, "cache", fake)
    monkeypatch.setattr(sharedcache, "LIVENESS_SECONDS", 0.1)
    monkeypatch.setattr(sharedcache, "_listening", False)
    thread = threading.Thread(target=sharedcache._listen, daemon=True)
    thread.start()
    deadline = time.monotonic() + 3
    while not sharedcache._listening and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sharedcache._listening  # subscribed: the mirror may be used
    started = time.monotonic()
    assert fake.again.wait(5), "the listener never gave up on the silent connection"
    assert not sharedcache._listening  # reading through until subscribed again
    assert time.monotonic() - started < 3
    assert fake.subscribers[0].pings >= 2
