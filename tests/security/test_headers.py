"""Hardening: `check --deploy` is clean, every response carries the security headers,
no page needs inline script or style, cookies are locked down, bodies are bounded."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings

from tests.security.test_isolation import NOT_USED, ROUTES, LoggedIn, Public, Tenant, rule_for, url_for

ROOT = Path(__file__).resolve().parent.parent.parent

PRODUCTION = {
    "DEBUG": False,
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": ["signet.example.com"],
    "SECURE_SSL_REDIRECT": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
}


def test_check_deploy_is_clean_with_production_settings(monkeypatch):
    # The browser tests' session sets this for Playwright; production never does.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    with override_settings(**PRODUCTION):
        try:
            call_command("check", deploy=True, fail_level="WARNING", verbosity=0)
        except SystemCheckError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"manage.py check --deploy is not clean:\n{exc}")


@pytest.mark.slow
def test_check_deploy_is_clean_from_the_environment():
    """The real settings module, configured only through the environment as in production."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": "False",
        "HTTPS": "True",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SIGNET_KEK": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "signet.example.com",
        "DATABASE_URL": "sqlite:////tmp/signet-check-deploy.sqlite3",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- headers on every response -------------------------------------------------------


def assert_security_headers(response, where):
    csp = response.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert "script-src" in directives or "default-src" in directives, f"{where}: no CSP script policy"
    script = directives.get("script-src", directives.get("default-src"))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, f"{where}: {script}"
    assert "'unsafe-inline'" not in directives.get("style-src", ""), where
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", where
    assert directives.get("object-src") == "object-src 'none'", where
    assert response.get("X-Frame-Options") == "DENY", f"{where}: X-Frame-Options {response.get('X-Frame-Options')}"
    assert response.get("X-Content-Type-Options") == "nosniff", where
    assert response.get("Referrer-Policy") == "same-origin", where


# A JSON data block (<script type="application/json">) is never executed, so the CSP allows it.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<[^>]+\sstyle\s*=|<style[\s>]", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def assert_no_inline_code(response, where):
    if "text/html" not in response.get("Content-Type", ""):
        return
    html = response.content.decode()
    for pattern, what in (
        (INLINE_SCRIPT, "an inline <script>"),
        (INLINE_HANDLER, "an inline event handler"),
        (INLINE_STYLE, "inline style (blocked by style-src 'self')"),
        (JS_URL, "a javascript: URL"),
    ):
        match = pattern.search(html)
        assert not match, f"{where} has {what}: {match.group(0)[:120]}"


def pages_to_visit(world):
    for route in ROUTES:
        if route.name.startswith("admin:") or route.name.startswith("api:"):
            continue
        rule = rule_for(route.name)
        if isinstance(rule, Tenant) and rule.get == NOT_USED:
            continue
        if isinstance(rule, (Tenant, LoggedIn, Public)):
            yield route.name, url_for(route, world["a"])


def test_every_page_carries_the_security_headers_and_no_inline_code(world, alice_client, client):
    visited = 0
    for name, url in pages_to_visit(world):
        for who, c in (("alice", alice_client), ("anonymous", client)):
            response = c.get(url)
            assert_security_headers(response, f"GET {url} ({name}) as {who}")
            assert_no_inline_code(response, f"GET {url} ({name}) as {who}")
            visited += 1
    assert visited > 20


def test_every_kind_of_other_response_carries_them_too(world, alice_client, client, api_a):
    responses = {
        "login page": client.get("/accounts/login/"),
        "404 page": client.get("/no/such/page"),
        "403 page": _as_viewer_members(world),
        "405": client.get("/accounts/logout/"),
        "admin login": client.get("/admin/login/"),
        "API 401": client.get("/api/v1/widgets"),
        "API 200": api_a.client.get("/api/v1/widgets", HTTP_AUTHORIZATION=f"Bearer {api_a.raw_key}"),
        "API 404": client.get("/api/v1/nope"),
        "openapi": client.get("/api/v1/openapi.json"),
        "healthz": client.get("/healthz"),
        "session jwks": client.get("/.well-known/jwks.json"),
        "static file": client.get("/static/css/signet.css"),
        "form 413": client.generic(
            "POST",
            "/accounts/login/",
            b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
            content_type="application/x-www-form-urlencoded",
        ),
        "API 413": client.generic(
            "POST",
            "/api/v1/widgets",
            b"{" + b" " * settings.SIGNET["API_MAX_BODY_BYTES"] + b"}",
            content_type="application/json",
        ),
    }
    for where, response in responses.items():
        assert response.status_code < 500, where
        assert_security_headers(response, where)
        assert_no_inline_code(response, where)
    assert responses["403 page"].status_code == 403
    assert responses["form 413"].status_code == 413
    assert responses["API 413"].status_code == 413
    assert responses["API 413"].json()["error"]["code"] == "request_too_large"


def _as_viewer_members(world):
    from django.contrib.auth import get_user_model

    c = Client()
    c.force_login(get_user_model().objects.get(username="bob"))
    return c.get("/t/acme/members/")


def test_the_500_page_carries_them(alice, monkeypatch):
    import portal.members as members

    def boom(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(members, "audit_events_of", boom)
    c = Client(raise_request_exception=False)
    c.force_login(alice)
    response = c.get("/t/acme/audit/")
    assert response.status_code == 500
    assert_security_headers(response, "500 page")
    assert "boom" not in response.content.decode()


# --- HTTPS: redirect, HSTS, cookies ----------------------------------------------------

HTTPS_SETTINGS = {
    **{k: v for k, v in PRODUCTION.items() if k not in ("ALLOWED_HOSTS",)},
    "SECURE_REDIRECT_EXEMPT": [r"^healthz$"],  # as portal/settings.py sets it with HTTPS on
}


@override_settings(**HTTPS_SETTINGS)
def test_https_redirect_and_hsts(db):
    client = Client()
    response = client.get("/accounts/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    response = client.get("/accounts/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    # The health check stays reachable over plain HTTP (load balancers).
    assert client.get("/healthz").status_code in (200, 503)


@override_settings(**HTTPS_SETTINGS)
def test_cookies_are_secure_httponly_and_samesite(alice):
    client = Client()
    response = client.get("/accounts/login/", secure=True)
    csrf = response.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "alice-Passw0rd!", "csrfmiddlewaretoken": csrf.value},
        secure=True,
    )
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


def test_the_settings_module_defaults_to_https_when_not_debugging():
    """Outside tests, DEBUG off means HTTPS on: secure cookies, HSTS and the redirect, by default."""
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, "
        "s.SESSION_COOKIE_HTTPONLY, s.X_FRAME_OPTIONS, s.SECURE_REFERRER_POLICY)"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SIGNET_KEK": secrets.token_urlsafe(32),
        "SIGNET_ENV_FILE": "",  # not the developer's .env (make run writes DEBUG=True there)
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "True", "True", "DENY", "same-origin"]


# --- body size limits ----------------------------------------------------------------


def test_oversized_form_posts_are_refused_before_parsing(alice_client):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = alice_client.post(
        "/t/acme/members/invite", {"email": "x@example.com", "role": "viewer", "pad": "x" * limit}
    )
    assert response.status_code in (400, 413)
    from portal.models import Invitation

    assert not Invitation.objects.exists()


def test_too_many_form_fields_are_refused(alice_client):
    data = {f"f{i}": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    data.update({"email": "x@example.com", "role": "viewer"})
    response = alice_client.post("/t/acme/members/invite", data)
    assert response.status_code == 400


def test_oversized_api_bodies_get_413_envelope(api_a, widget_a):
    limit = settings.SIGNET["API_MAX_BODY_BYTES"]
    status, body = api_a.call("POST", f"/api/v1/widgets/{widget_a.public_id}/verify", raw="[" + "1," * limit + "1]")
    assert status == 413 and body["error"]["code"] == "request_too_large"


def test_django_admin_pages_need_no_inline_code(world, superuser):
    from portal.models import AuditEvent

    client = Client()
    client.force_login(superuser)
    event = AuditEvent.objects.first()
    for url in (
        "/admin/",
        "/admin/portal/auditevent/",
        f"/admin/portal/auditevent/{event.pk}/change/",
        "/admin/portal/tenant/",
        "/admin/auth/user/add/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response, url)
        assert_no_inline_code(response, url)


def test_api_keeps_no_session_but_every_security_header(alice_client, api_a, widget_a):
    """/api/ skips Django's session, auth and messages middleware (bearer keys only): a browser's session
    cookie is neither read nor refreshed there, while pages keep their session."""
    alice_client.cookies["messages"] = "x"
    response = alice_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies and "messages" not in response.cookies
    assert "Cookie" not in response.headers.get("Vary", "")
    for name in ("X-Frame-Options", "X-Content-Type-Options", "Content-Security-Policy", "Cache-Control"):
        assert response.headers.get(name), name
    assert not hasattr(response.wsgi_request, "session") and not hasattr(response.wsgi_request, "user")
    # The same browser on a page: the session and user are there.
    page = alice_client.get("/")
    assert page.wsgi_request.user.username == "alice"
    status, body = api_a.post(f"/api/v1/widgets/{widget_a.public_id}/verify", {})
    assert status == 200 and body["verified"] is False
