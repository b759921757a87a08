"""Shared fixtures: three people (alice: owner of tenant A, bob: viewer of A,
charlie: admin of tenant B), their widgets, API clients, and independent key
and token makers (PyJWT and `cryptography`, never our own JOSE code)."""

import json
import os
import time
import uuid
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.cache import cache
from django.test import Client

from portal.models import Role
from portal.services import api_key_create, membership_set, tenant_create

# Servers and scripts the tests start inherit this: they must not read the developer's `.env`
# (`make run` writes one with DEBUG on), or `make run` then `make test` tests other settings.
os.environ["SIGNET_ENV_FILE"] = ""

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
VECTORS = SHARED / "vectors"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Shared cache and per-process snapshots start empty in every test."""
    from keys import engine
    from portal import api, sharedcache
    from widgets import config, outcomes

    def reset():
        api._rate_counts.clear()
        cache.clear()
        config._local.clear()
        outcomes._buffer.clear()
        outcomes._dropped = 0
        sharedcache._marked.clear()
        sharedcache.mirror_reset()
        engine._HEADERS.clear()

    reset()
    yield
    reset()


# --- people and tenants ------------------------------------------------------


@pytest.fixture
def tenant_a(db):
    return tenant_create(slug="acme", name="Acme")


@pytest.fixture
def tenant_b(db):
    return tenant_create(slug="globex", name="Globex")


def _user(django_user_model, name):
    return django_user_model.objects.create_user(name, email=f"{name}@example.com", password=f"{name}-Passw0rd!")


@pytest.fixture
def alice(db, django_user_model, tenant_a):
    user = _user(django_user_model, "alice")
    membership_set(tenant=tenant_a, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(db, django_user_model, tenant_a):
    user = _user(django_user_model, "bob")
    membership_set(tenant=tenant_a, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def dave(db, django_user_model, tenant_a):
    """A developer of tenant A."""
    user = _user(django_user_model, "dave")
    membership_set(tenant=tenant_a, user=user, role=Role.DEVELOPER)
    return user


@pytest.fixture
def charlie(db, django_user_model, tenant_b):
    user = _user(django_user_model, "charlie")
    membership_set(tenant=tenant_b, user=user, role=Role.ADMIN)
    return user


def _login(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice):
    return _login(alice)


@pytest.fixture
def bob_client(bob):
    return _login(bob)


@pytest.fixture
def dave_client(dave):
    return _login(dave)


@pytest.fixture
def charlie_client(charlie):
    return _login(charlie)


# --- widgets and the API -----------------------------------------------------


@pytest.fixture
def widget_a(tenant_a):
    from widgets.services import widget_create

    return widget_create(tenant=tenant_a, name="Acme chat")


@pytest.fixture
def widget_b(tenant_b):
    from widgets.services import widget_create

    return widget_create(tenant=tenant_b, name="Globex chat")


class ApiClient:
    """A JSON client with a bearer key; `.call(method, path, body)` -> (status, json)."""

    def __init__(self, raw_key):
        self.raw_key = raw_key
        self.client = Client()

    def call(self, method, path, body=None, *, raw=None, headers=None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {self.raw_key}"} if self.raw_key else {}
        kwargs.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        response = self.client.generic(method, path, data=data, content_type="application/json", **kwargs)
        try:
            payload = json.loads(response.content or b"null")
        except ValueError:
            payload = response.content
        return response.status_code, payload

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)


@pytest.fixture
def api_a(tenant_a):
    _, raw = api_key_create(tenant=tenant_a, name="test A")
    return ApiClient(raw)


@pytest.fixture
def api_b(tenant_b):
    _, raw = api_key_create(tenant=tenant_b, name="test B")
    return ApiClient(raw)


# --- independent keys and tokens --------------------------------------------


class KeyPair:
    def __init__(self, private_key, alg):
        self.private_key = private_key
        self.alg = alg

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def sign(self, payload, *, headers=None, alg=None) -> str:
        """Sign with PyJWT (an independent implementation). `payload` may be a dict or a list."""
        alg = alg or self.alg
        if isinstance(payload, dict):
            return pyjwt.encode(payload, self.private_key, algorithm=alg, headers=headers)
        body = json.dumps(payload, separators=(",", ":")).encode()
        return pyjwt.api_jws.encode(body, self.private_key, algorithm=alg, headers=headers)


@pytest.fixture(scope="session")
def ec_key():
    return KeyPair(ec.generate_private_key(ec.SECP256R1()), "ES256")


@pytest.fixture(scope="session")
def ec_key_2():
    return KeyPair(ec.generate_private_key(ec.SECP256R1()), "ES256")


@pytest.fixture(scope="session")
def ec384_key():
    return KeyPair(ec.generate_private_key(ec.SECP384R1()), "ES384")


@pytest.fixture(scope="session")
def rsa_key():
    return KeyPair(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")


@pytest.fixture(scope="session")
def p256():
    """A bare P-256 private key (cryptography), for tests of key intake and signing."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def rsa2048():
    """A bare 2048-bit RSA private key (cryptography)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def claims():
    """A classic live-chat claims object, valid for 10 minutes, with a fresh jti."""

    def make(**extra):
        now = int(time.time())
        body = {
            "name": "Jane Doe",
            "isLoggedIn": True,
            "email": "jane@example.com",
            "customerId": 124,
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            "sub": "customer-124",
        }
        body.update(extra)
        return {k: v for k, v in body.items() if v is not None}

    return make


FIELDS = [
    {"label": "name", "data": "Jane Doe", "type": "string"},
    {"label": "customer_id", "data": 124, "type": "number"},
    {"label": "logged_in", "data": True, "type": "boolean"},
]


@pytest.fixture
def fields_payload():
    return [dict(f) for f in FIELDS]


@pytest.fixture
def registered_ec(widget_a, ec_key):
    """widget_a with ec_key registered under kid 'site-1'."""
    from keys.services import signing_key_register

    key, _ = signing_key_register(widget=widget_a, public_key=ec_key.public_pem, kid="site-1")
    return key


# --- one Chromium for every browser test ---------------------------------------------
# Playwright's sync API may run once per thread: every browser test module shares this
# session fixture instead of starting its own (two at once fail with "Sync API inside the
# asyncio loop"). No browser is downloaded: Debian's /usr/bin/chromium is driven.

CHROMIUM = os.environ.get("SIGNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser(django_db_setup):
    # Requests the test database so that it is torn down after this fixture, not before.
    import shutil

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} is missing: install chromium (scripts/ensure-chromium) or deselect -m browser")
    # Playwright's sync API runs an event loop in this thread; the ORM calls stay synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # While that loop runs, Django keeps this thread's connections in a separate store (asgiref's
        # Local sees a running loop): close them before it stops, or they outlive the test database
        # ("test_signet is being accessed by other users" at teardown).
        from django.db import connections

        connections.close_all()


SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}


def screenshot_taker(prefix: str = ""):
    """A function that saves a page's screenshot as test-artifacts/screenshots/<prefix><name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name, *, full_page=False):
        path = SCREENSHOTS / f"{prefix}{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


def login(page, username, password):
    """Log in through the real login form."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
