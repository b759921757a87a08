"""Real gunicorn processes (two sync workers) against a real PostgreSQL database and Redis.

These tests do not use the Django test database: each session creates its own
PostgreSQL database `signet_scale_<random>`, migrates it with `manage.py`, starts
servers with production settings from the environment, and drops the database at
the end. They skip, saying why, only when PostgreSQL or Redis is not reachable.

    SIGNET_SCALE_PG_URL     server to create the database on (default: the host of a
                            postgres DATABASE_URL, else postgres://postgres@127.0.0.1:5432)
    SIGNET_SCALE_REDIS_URL  Redis for the servers (default: REDIS_URL, else redis://127.0.0.1:6379/9)
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT = 1  # nothing listens on 127.0.0.1:1: connections are refused at once


def _pg_server_url() -> str:
    explicit = os.environ.get("SIGNET_SCALE_PG_URL")
    if explicit:
        return explicit.rstrip("/")
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")):
        return database_url.rsplit("/", 1)[0]
    return "postgres://postgres@127.0.0.1:5432"


def _redis_url() -> str:
    return os.environ.get("SIGNET_SCALE_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"


@pytest.fixture(scope="session")
def pg_server():
    import psycopg

    url = _pg_server_url()
    try:
        psycopg.connect(url + "/postgres", connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.skip(
            f"PostgreSQL is not reachable at {url.split('@')[-1]} ({exc.__class__.__name__}); scale tests need it"
        )
    return url


@pytest.fixture(scope="session")
def redis_url():
    import redis

    url = _redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {url.split('@')[-1]} ({exc.__class__.__name__}); scale tests need it")
    return url


def server_env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SIGNET_TESTING", "REDIS_URL", "DATABASE_URL")}
    env.update(
        {
            "DEBUG": "False",
            "HTTPS": "False",
            "SECRET_KEY": "scale-tests-" + "k" * 40,
            "SIGNET_KEK": base64.urlsafe_b64encode(b"s" * 32).decode(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def scale_db(pg_server, redis_url):
    """A migrated database with one tenant; yields (DATABASE_URL, raw API key)."""
    import psycopg

    name = f"signet_scale_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{pg_server}/{name}"
    try:
        env = server_env(DATABASE_URL=url, REDIS_URL=redis_url)
        manage(env, "migrate", "--noinput")
        manage(env, "create_tenant", "scale", "--name", "Scale")
        api_key = manage(env, "create_api_key", "scale", "--name", "scale tests").strip().splitlines()[-1]
        yield url, api_key
    finally:
        with psycopg.connect(pg_server + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, port: int, log: Path):
        self.port, self.log = port, log

    def request(self, method: str, path: str, body=None, *, api_key: str | None = None, timeout: float = 15):
        return request(self.port, method, path, body, api_key=api_key, timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self, path_part: str) -> set[str]:
        """Pids of the workers that answered requests whose line contains `path_part`."""
        return {
            line.split()[1]
            for line in self.log_text().splitlines()
            if line.startswith("ACCESS pid=") and path_part in line
        }


def request(port: int, method: str, path: str, body=None, *, api_key: str | None = None, timeout: float = 15):
    """-> (status, parsed JSON or raw text). Never raises on an HTTP status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode(errors="replace")
    finally:
        conn.close()


@contextmanager
def gunicorn(tmp_path: Path, *, workers: int = 2, ready_status=(200,), **env_overrides):
    """Two sync workers (like `make serve` on two cores); always killed on exit."""
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--access-logfile",
        "-",
        "--access-logformat",
        "ACCESS pid=%(p)s %(s)s %(r)s",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=server_env(**env_overrides), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, f"gunicorn exited ({proc.returncode}):\n{log.read_text()}"
                try:
                    status, _ = request(port, "GET", "/healthz", timeout=5)
                    if status in ready_status:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"gunicorn did not answer /healthz in 30 s:\n{log.read_text()}"
                time.sleep(0.2)
            yield Server(port, log)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)


def burst(n: int, fn, *, indexed: bool = False) -> list:
    """Call fn() (or fn(i)) from n threads released at the same moment; results in thread order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i) if indexed else fn()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# --- signing (cryptography only, never Signet's JOSE code) ---------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    def __init__(self, kid: str = "scale-1"):
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, *, jti: str | None = None, **claims) -> str:
        now = int(time.time())
        payload = {"sub": f"visitor-{uuid.uuid4().hex[:8]}", "iat": now, "exp": now + 300, "name": "Ada", **claims}
        if jti is not None:
            payload["jti"] = jti
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(payload, separators=(",", ":")).encode())
        )
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
