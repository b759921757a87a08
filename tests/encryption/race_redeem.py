"""Run by test_sessions.py in a subprocess: N threads redeem one session token against a
real on-disk SQLite database configured as in production (WAL, busy timeout,
IMMEDIATE transactions). Prints one JSON line: the HTTP-like outcome of each thread."""

import json
import os
import sys
import threading

import django


def main(threads: int, rounds: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from portal.errors import ServiceError
    from portal.services import tenant_create
    from widgets import sessions
    from widgets.models import VisitorSession
    from widgets.services import widget_create

    call_command("migrate", verbosity=0)
    tenant = tenant_create(slug="race", name="Race")
    widget = widget_create(tenant=tenant, name="Race chat")
    from keys import platform

    outcomes = []
    for _ in range(rounds):
        import secrets
        import time
        from datetime import UTC, datetime

        jti = secrets.token_urlsafe(24)
        now = int(time.time())
        token = platform.session_signer().sign(
            {"iss": "signet", "aud": widget.public_id, "sub": "v", "jti": jti, "iat": now, "exp": now + 300}
        )
        VisitorSession.objects.create(
            widget=widget, jti=jti, sub="v", fields=[], expires_at=datetime.fromtimestamp(now + 300, tz=UTC)
        )
        barrier = threading.Barrier(threads)
        results = []

        def redeem(token=token, barrier=barrier, results=results):
            try:
                barrier.wait(timeout=30)
                sessions.session_redeem(tenant=tenant, token=token)
                results.append(200)
            except ServiceError as exc:
                results.append(exc.status)
            except Exception as exc:
                results.append(type(exc).__name__)
            finally:
                connection.close()

        workers = [threading.Thread(target=redeem) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        outcomes.append(sorted(results, key=str))
    print(json.dumps({"vendor": connection.vendor, "outcomes": outcomes}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
