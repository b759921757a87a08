"""Replay and session redemption under real concurrency, and what an outage of Redis or
PostgreSQL looks like from outside. Two gunicorn sync workers per server, PostgreSQL,
Redis (see conftest.py). Each burst releases 50 requests at the same moment."""

from __future__ import annotations

import types
import uuid

import pytest

from tests.scale.conftest import CLOSED_PORT, Signer, burst, gunicorn

pytestmark = [pytest.mark.slow]

N = 50


@pytest.fixture(scope="module")
def signer():
    return Signer()


@pytest.fixture(scope="module")
def live(scale_db, redis_url, signer, tmp_path_factory):
    """The normal configuration: PostgreSQL + Redis; one widget with one ES256 key."""
    database_url, api_key = scale_db
    with gunicorn(tmp_path_factory.mktemp("live"), DATABASE_URL=database_url, REDIS_URL=redis_url) as server:
        status, widget = server.request("POST", "/api/v1/widgets", {"name": "Scale chat"}, api_key=api_key)
        assert status == 201, widget
        status, key = server.request(
            "POST",
            f"/api/v1/widgets/{widget['id']}/keys",
            {"public_key": signer.public_pem, "kid": signer.kid},
            api_key=api_key,
        )
        assert status == 201, key
        yield types.SimpleNamespace(server=server, api_key=api_key, widget_id=widget["id"], database_url=database_url)


def _verify_path(live) -> str:
    return f"/api/v1/widgets/{live.widget_id}/verify"


def _assert_accepted_once(results, server, path):
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, (statuses, server.log_text()[-3000:])
    return statuses


BURSTS = 5  # a fast worker may take a whole burst alone: repeat until both workers took part


def test_same_jti_50_at_once_is_accepted_once_redis(live, signer):
    path = _verify_path(live)
    for _ in range(BURSTS):
        token = signer.sign(jti=f"replay-{uuid.uuid4()}")
        results = burst(
            N,
            lambda token=token: live.server.request(
                "POST", path, {"signed_interaction_data": token}, api_key=live.api_key
            ),
        )
        _assert_accepted_once(results, live.server, path)
        winners = [body for status, body in results if status == 200]
        assert winners[0]["verified"] is True and winners[0]["claims"]["jti"].startswith("replay-")
        losers = [(status, body) for status, body in results if status != 200]
        assert len(losers) == N - 1
        assert all(status == 422 and body["error"]["code"] == "replayed" for status, body in losers), losers[:3]
        if len(live.server.worker_pids(path)) == 2:
            break
    # Both workers answered: the race was between processes, not inside one.
    assert len(live.server.worker_pids(path)) == 2


def test_jti_sent_twice_at_the_same_moment_to_idle_workers_is_accepted_once(live, signer):
    """Two requests released together while both workers are idle run side by side, so
    their replay checks overlap: 50 such pairs expose a check-then-set race that a single
    burst of 50 (where only the first two requests race) would rarely show."""
    path = _verify_path(live)
    for pair in range(N):
        token = signer.sign(jti=f"pair-{pair}-{uuid.uuid4()}")
        results = burst(
            2, lambda: live.server.request("POST", path, {"signed_interaction_data": token}, api_key=live.api_key)
        )
        statuses = sorted(r[0] if isinstance(r, tuple) else r for r in results)
        assert statuses == [200, 422], (pair, results)


def test_same_jti_50_at_once_is_accepted_once_database_store(live, signer, tmp_path):
    """Without Redis the replay store is the database's unique constraint; same guarantee."""
    with gunicorn(tmp_path, DATABASE_URL=live.database_url, REDIS_URL="", CACHE_DIR=str(tmp_path / "cache")) as server:
        path = _verify_path(live)
        for _ in range(BURSTS):
            token = signer.sign(jti=f"replay-db-{uuid.uuid4()}")
            results = burst(
                N,
                lambda token=token: server.request(
                    "POST", path, {"signed_interaction_data": token}, api_key=live.api_key
                ),
            )
            _assert_accepted_once(results, server, path)
            codes = [body["error"]["code"] for status, body in results if status != 200]
            assert codes == ["replayed"] * (N - 1)
            if len(server.worker_pids(path)) == 2:
                break
        assert len(server.worker_pids(path)) == 2


def test_session_redeemed_once_under_50_concurrent(live, signer):
    for _ in range(BURSTS):
        status, body = live.server.request(
            "POST",
            _verify_path(live),
            {"signed_interaction_data": signer.sign(sub="visitor-42"), "issue_session": True},
            api_key=live.api_key,
        )
        assert status == 200, body
        session = body["session"]["token"]

        results = burst(
            N,
            lambda session=session: live.server.request(
                "POST", "/api/v1/sessions/redeem", {"token": session}, api_key=live.api_key
            ),
        )

        _assert_accepted_once(results, live.server, "/sessions/redeem")
        winner = next(body for status, body in results if status == 200)
        assert winner["sub"] == "visitor-42" and winner["widget"] == live.widget_id
        losers = [(status, body) for status, body in results if status != 200]
        assert all(status == 409 and body["error"]["code"] == "session_used" for status, body in losers), losers[:3]
        if len(live.server.worker_pids("/sessions/redeem")) == 2:
            break
    assert len(live.server.worker_pids("/sessions/redeem")) == 2


def test_session_redeemed_by_two_at_the_same_moment_is_accepted_once(live, signer):
    """As for jti pairs: 20 redemptions raced side by side on idle workers."""
    for pair in range(20):
        status, body = live.server.request(
            "POST",
            _verify_path(live),
            {"signed_interaction_data": signer.sign(sub=f"visitor-{pair}"), "issue_session": True},
            api_key=live.api_key,
        )
        assert status == 200, body
        session = body["session"]["token"]
        results = burst(
            2,
            lambda: live.server.request("POST", "/api/v1/sessions/redeem", {"token": session}, api_key=live.api_key),
        )
        statuses = sorted(r[0] if isinstance(r, tuple) else r for r in results)
        assert statuses == [200, 409], (pair, results)


def test_redis_down_fails_closed_only_for_jti(live, signer, tmp_path):
    with gunicorn(tmp_path, DATABASE_URL=live.database_url, REDIS_URL=f"redis://127.0.0.1:{CLOSED_PORT}/0") as server:
        path = _verify_path(live)
        # Without a jti nothing needs the replay store: verification goes on (the cache degrades to the database).
        status, body = server.request("POST", path, {"signed_interaction_data": signer.sign()}, api_key=live.api_key)
        assert status == 200, body
        assert body["verified"] is True

        # With a jti the store must answer: refused, never accepted unchecked.
        status, body = server.request(
            "POST", path, {"signed_interaction_data": signer.sign(jti=f"down-{uuid.uuid4()}")}, api_key=live.api_key
        )
        assert status == 503, body
        assert body["error"]["code"] == "replay_store_unavailable"
        assert body["error"]["message"]

        # Nothing crashed: the server still answers, and said why in its log.
        assert server.request("GET", "/healthz")[0] == 200
        status, body = server.request("POST", path, {"signed_interaction_data": signer.sign()}, api_key=live.api_key)
        assert status == 200, body
        log = server.log_text()
        assert "replay store (redis) unavailable" in log
        assert "Traceback" not in log


def test_postgres_down_answers_503_with_the_envelope(live, redis_url, tmp_path):
    down = f"postgres://postgres@127.0.0.1:{CLOSED_PORT}/signet"
    with gunicorn(tmp_path, ready_status=(503,), DATABASE_URL=down, REDIS_URL=redis_url) as server:
        status, body = server.request("GET", "/healthz")
        assert status == 503
        assert body["status"] != "ok"

        for method, path, payload in [
            ("GET", "/api/v1/widgets", None),
            ("POST", _verify_path(live), {"unsigned_data": [{"label": "page", "data": "/", "type": "string"}]}),
        ]:
            status, body = server.request(method, path, payload, api_key=live.api_key)
            assert status == 503, (path, body)
            assert set(body) == {"error"}, body
            assert body["error"]["code"] == "service_unavailable" and body["error"]["message"]

        # Still alive after the refusals.
        assert server.request("GET", "/healthz")[0] == 503
        assert "database unavailable" in server.log_text()


def test_changes_reach_every_worker_at_once(live, signer):
    """Each worker mirrors API-key entries and widget versions in memory (kept exact by Redis
    notices): a change made through one worker is seen by the next request on either worker."""
    api_key = live.api_key
    status, widget = live.server.request("POST", "/api/v1/widgets", {"name": "Mirror"}, api_key=api_key)
    assert status == 201, widget
    base = f"/api/v1/widgets/{widget['id']}"
    status, _ = live.server.request(
        "POST", f"{base}/keys", {"public_key": signer.public_pem, "kid": signer.kid}, api_key=api_key
    )
    assert status == 201
    token = signer.sign()

    def verify_many(n=30):
        return burst(
            n,
            lambda: live.server.request("POST", f"{base}/verify", {"signed_interaction_data": token}, api_key=api_key),
        )

    for _ in range(BURSTS):  # warm both workers' mirrors
        assert {r[0] for r in verify_many()} == {200}
        if len(live.server.worker_pids(f"{base}/verify")) == 2:
            break
    assert len(live.server.worker_pids(f"{base}/verify")) == 2

    # A policy change: every following answer applies it.
    status, _ = live.server.request("PATCH", base, {"expected_issuer": "https://nobody.example"}, api_key=api_key)
    assert status == 200
    results = verify_many()
    assert {(r[0], r[1]["error"]["code"]) for r in results} == {(422, "missing_claim")}, results[:3]  # no iss
    status, _ = live.server.request("PATCH", base, {"expected_issuer": ""}, api_key=api_key)
    assert status == 200
    assert {r[0] for r in verify_many()} == {200}

    # A revoked key: refused at once by both workers.
    status, _ = live.server.request("POST", f"{base}/keys/{signer.kid}/revoke", api_key=api_key)
    assert status == 200
    results = verify_many()
    assert {(r[0], r[1]["error"]["code"]) for r in results} == {(422, "revoked_key")}, results[:3]
