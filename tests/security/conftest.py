"""Fixtures for the security tests: one person per role in tenant A (alice owner,
erin admin, dave developer, bob viewer), charlie (admin of tenant B), a staff
user and a superuser without memberships, and one object of each kind per tenant."""

import pytest
from django.test import Client

from portal.models import Role
from portal.services import api_key_create, invitation_create, membership_set


@pytest.fixture
def erin(db, django_user_model, tenant_a):
    """An admin of tenant A."""
    user = django_user_model.objects.create_user("erin", email="erin@example.com", password="erin-Passw0rd!")
    membership_set(tenant=tenant_a, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def erin_client(erin):
    client = Client()
    client.force_login(erin)
    return client


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user(
        "stella", email="stella@example.com", password="stella-Passw0rd!", is_staff=True
    )


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser("root", email="root@example.com", password="root-Passw0rd!")


def make_signing_key(widget, kid):
    """A SigningKey row made directly (the key intake is tested elsewhere; here only its existence matters)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from keys.models import SigningKey

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return SigningKey.objects.create(
        widget=widget,
        kid=kid,
        public_key_pem=pem,
        key_type="EC",
        curve="P-256",
        bits=256,
        algorithms=["ES256"],
        fingerprint_sha256=f"fp-{widget.public_id}-{kid}",
        jwk_thumbprint=f"tp-{widget.public_id}-{kid}",
    )


def make_encryption_key(tenant):
    from keys import platform

    return platform.encryption_key_create(tenant=tenant)


@pytest.fixture(scope="session")
def _rsa_pool():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return [rsa.generate_private_key(public_exponent=65537, key_size=3072) for _ in range(3)]


@pytest.fixture
def fast_platform_keys(monkeypatch, _rsa_pool):
    """Platform RSA keys come from a pool made once per run (generating RSA-3072 takes a while)."""
    import itertools

    from keys import jose

    pool = itertools.cycle(_rsa_pool)
    monkeypatch.setattr(jose, "generate_platform_rsa_key", lambda: next(pool))


@pytest.fixture
def world(tenant_a, tenant_b, alice, bob, dave, erin, charlie, widget_a, widget_b, fast_platform_keys):
    """Every kind of object a URL can name, once in tenant A and once in tenant B."""
    from portal.models import Membership

    key_a, key_b = make_signing_key(widget_a, "kid-a"), make_signing_key(widget_b, "kid-b")
    api_key_a, _ = api_key_create(tenant=tenant_a, name="A")
    api_key_b, _ = api_key_create(tenant=tenant_b, name="B")
    _, token_a = invitation_create(tenant=tenant_a, email="new-a@example.com", role=Role.VIEWER, actor=alice)
    _, token_b = invitation_create(tenant=tenant_b, email="new-b@example.com", role=Role.VIEWER, actor=charlie)
    enc_a, enc_b = make_encryption_key(tenant_a), make_encryption_key(tenant_b)
    return {
        "a": {
            "tenant_slug": tenant_a.slug,
            "widget_id": widget_a.public_id,
            "kid": key_a.kid,
            "enc_kid": enc_a.kid,
            "prefix": api_key_a.prefix,
            "membership_id": Membership.objects.get(tenant=tenant_a, user=bob).pk,
            "token": token_a,
        },
        "b": {
            "tenant_slug": tenant_b.slug,
            "widget_id": widget_b.public_id,
            "kid": key_b.kid,
            "enc_kid": enc_b.kid,
            "prefix": api_key_b.prefix,
            "membership_id": Membership.objects.get(tenant=tenant_b, user=charlie).pk,
            "token": token_b,
        },
    }
