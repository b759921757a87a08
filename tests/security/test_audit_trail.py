"""Every security-relevant change writes an AuditEvent, in the same transaction as the change:
if the audit write fails, the change does not happen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from keys.models import KeyStatus, SigningKey
from portal.models import ApiKey, AuditEvent, Invitation, Membership, Role
from widgets.models import UnsignedField, Widget


class AuditDown(Exception):
    pass


def _break_audit(monkeypatch):
    """Make every module's audit_record fail (each imports it by name)."""
    import keys.platform
    import keys.services
    import portal.services
    import widgets.services

    def broken(**kwargs):
        raise AuditDown

    for module in (portal.services, widgets.services, keys.services, keys.platform):
        if hasattr(module, "audit_record"):
            monkeypatch.setattr(module, "audit_record", broken)


def _state():
    return {
        "widgets": list(Widget.objects.order_by("pk").values()),
        "keys": list(SigningKey.objects.order_by("pk").values_list("pk", "status")),
        "allowlist": list(UnsignedField.objects.order_by("pk").values_list("pk", "label")),
        "api_keys": list(ApiKey.objects.order_by("pk").values_list("pk", "revoked_at")),
        "members": list(Membership.objects.order_by("pk").values_list("pk", "role")),
        "invitations": list(Invitation.objects.order_by("pk").values_list("pk", "expires_at")),
    }


def _changes(alice, bob, tenant_a, widget_a, ec_key, ec_key_2):
    """(expected action, the change) for everything the issue lists."""
    from keys.services import signing_key_register, signing_key_revoke, signing_keys_expire
    from portal import services as ps
    from widgets import services as ws

    def key_added():
        signing_key_register(widget=widget_a, public_key=ec_key_2.public_pem, kid="new-key", actor=alice)

    def key_revoked():
        signing_key_revoke(key=SigningKey.objects.get(kid="site-1"), actor=alice)

    def key_expired():
        SigningKey.objects.filter(kid="site-1").update(expires_at=timezone.now() - timedelta(seconds=1))
        signing_keys_expire()

    return [
        ("key.added", key_added),
        ("key.revoked", key_revoked),
        ("key.expired", key_expired),
        (
            "widget.policy_changed",
            lambda: ws.widget_update(widget=widget_a, changes={"leeway_seconds": 5}, actor=alice),
        ),
        (
            "widget.enforcement_changed",
            lambda: ws.widget_update(widget=widget_a, changes={"signed_required": True}, actor=alice),
        ),
        ("allowlist.added", lambda: ws.unsigned_field_add(widget=widget_a, label="plan", actor=alice)),
        ("allowlist.changed", lambda: ws.unsigned_fields_set(widget=widget_a, labels=["a", "b"], actor=alice)),
        ("api_key.created", lambda: ps.api_key_create(tenant=tenant_a, name="n", actor=alice)),
        ("api_key.revoked", lambda: ps.api_key_revoke(api_key=ApiKey.objects.get(name="pre"), actor=alice)),
        ("member.invited", lambda: ps.invitation_create(tenant=tenant_a, email="i@example.com", role="viewer")),
        (
            "member.role_changed",
            lambda: ps.membership_change_role(membership=Membership.objects.get(user=bob), role=Role.ADMIN),
        ),
        ("member.removed", lambda: ps.membership_remove(membership=Membership.objects.get(user=bob), actor=alice)),
        ("login.failed", lambda: ps.login_failure_record(username="alice", ip="203.0.113.9")),
    ]


@pytest.fixture
def setup(alice, bob, tenant_a, widget_a, registered_ec):
    from portal.services import api_key_create

    api_key_create(tenant=tenant_a, name="pre")


ACTIONS = [
    "key.added",
    "key.revoked",
    "key.expired",
    "widget.policy_changed",
    "widget.enforcement_changed",
    "allowlist.added",
    "allowlist.changed",
    "api_key.created",
    "api_key.revoked",
    "member.invited",
    "member.role_changed",
    "member.removed",
    "login.failed",
]


@pytest.mark.parametrize("action", ACTIONS)
def test_the_change_is_audited(action, setup, alice, bob, tenant_a, widget_a, ec_key, ec_key_2):
    change = dict(_changes(alice, bob, tenant_a, widget_a, ec_key, ec_key_2))[action]
    before = AuditEvent.objects.filter(action=action).count()
    change()
    assert AuditEvent.objects.filter(action=action).count() == before + 1
    event = AuditEvent.objects.filter(action=action).latest("id")
    assert event.tenant == (None if action == "login.failed" else tenant_a)


@pytest.mark.parametrize("action", ACTIONS)
def test_no_audit_no_change(action, setup, alice, bob, tenant_a, widget_a, ec_key, ec_key_2, monkeypatch):
    change = dict(_changes(alice, bob, tenant_a, widget_a, ec_key, ec_key_2))[action]
    if action == "key.expired":
        SigningKey.objects.filter(kid="site-1").update(expires_at=timezone.now() - timedelta(seconds=1))
    before = _state()
    _break_audit(monkeypatch)
    with pytest.raises(AuditDown):
        change()
    assert _state() == before
    if action == "key.expired":
        assert SigningKey.objects.get(kid="site-1").status == KeyStatus.ACTIVE


def test_audit_events_cannot_be_changed_through_any_page(world, superuser, alice_client):
    """No portal URL edits or deletes audit events; Django admin is read-only (see test_isolation)."""
    from django.urls import get_resolver

    def views(patterns):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from views(p.url_patterns)
            else:
                yield p

    for pattern in views(get_resolver().url_patterns):
        module = getattr(pattern.callback, "__module__", "")
        if module.startswith(("portal", "widgets", "keys")):
            name = getattr(pattern.callback, "__name__", "")
            assert "audit" not in name or name == "audit", f"unexpected audit view {module}.{name}"
