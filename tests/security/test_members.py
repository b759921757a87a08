"""Members, invitations, the last-owner rule, and the audit page: each role does exactly what it should."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from portal.errors import ServiceError
from portal.models import AuditEvent, Invitation, Membership, Role
from portal.services import (
    audit_record,
    invitation_create,
    membership_change_role,
    membership_remove,
    membership_set,
)

MEMBERS = "/t/acme/members/"
INVITE = "/t/acme/members/invite"
AUDIT = "/t/acme/audit/"


def invite_link(response) -> str:
    match = re.search(r"/accounts/invite/([A-Za-z0-9_-]{20,})", response.content.decode())
    assert match, "no invitation link on the page"
    return match.group(0)


def membership(user):
    return Membership.objects.get(user=user, tenant__slug="acme")


# --- the members page: owners only -----------------------------------------------------


@pytest.mark.parametrize("who,status", [("bob", 403), ("dave", 403), ("erin", 403), ("alice", 200), ("charlie", 404)])
def test_only_owners_see_members(who, status, request):
    request.getfixturevalue("world")
    client = Client()
    client.force_login(request.getfixturevalue(who))
    assert client.get(MEMBERS).status_code == status
    assert client.get(INVITE).status_code == status


def test_members_page_lists_members_roles_and_pending_invitations(alice_client, bob, dave):
    invitation_create(tenant=membership(bob).tenant, email="pending@example.com", role=Role.ADMIN)
    text = alice_client.get(MEMBERS).content.decode()
    for needle in ("alice", "bob", "dave", "pending@example.com", "(last owner)"):
        assert needle in text


# --- invitations ---------------------------------------------------------------------


def test_owner_invites_link_is_shown_once_and_emailed(alice_client, alice):
    response = alice_client.post(INVITE, {"email": "New.Person@Example.COM", "role": "developer"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    link = invite_link(response)
    token = link.rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert invitation.email == "New.Person@example.com"
    assert invitation.role == Role.DEVELOPER
    # Stored as a hash only; never again on any page.
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Invitation.objects.values().get())
    assert token not in alice_client.get(MEMBERS).content.decode()
    assert invitation.expires_at - timezone.now() > timedelta(days=6, hours=23)
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body
    assert mail.outbox[0].to == ["New.Person@example.com"]
    event = AuditEvent.objects.get(action="member.invited")
    assert (event.actor, event.target, event.details["role"]) == (alice, "New.Person@example.com", "developer")
    assert token not in str(event.details)


def test_inviting_an_existing_member_is_refused_clearly(alice_client, bob):
    response = alice_client.post(INVITE, {"email": "bob@example.com", "role": "admin"})
    assert response.status_code == 200
    assert "already belongs to a member" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_new_invitation_supersedes_the_pending_one(alice_client):
    first = invite_link(alice_client.post(INVITE, {"email": "x@example.com", "role": "viewer"}))
    alice_client.post(INVITE, {"email": "x@example.com", "role": "admin"})
    assert Client().get(first).status_code == 404


def test_accepting_with_a_new_account(alice, tenant_a):
    _, token = invitation_create(tenant=tenant_a, email="newbie@example.com", role=Role.DEVELOPER, actor=alice)
    client = Client()
    page = client.get(f"/accounts/invite/{token}")
    assert page.status_code == 200 and "Create your account" in page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0")
    # The password validators apply.
    weak = client.post(f"/accounts/invite/{token}", {"username": "newbie", "password1": "123", "password2": "123"})
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    response = client.post(
        f"/accounts/invite/{token}",
        {"username": "newbie", "password1": "a-Long-passphrase-1", "password2": "a-Long-passphrase-1"},
    )
    assert response.status_code == 302 and response["Location"] == "/t/acme/"
    user = Membership.objects.get(tenant=tenant_a, role=Role.DEVELOPER).user
    assert (user.username, user.email) == ("newbie", "newbie@example.com")
    assert client.get("/t/acme/audit/").status_code == 200  # logged in
    assert AuditEvent.objects.filter(action="member.joined", target="newbie").exists()
    # Used once: the link is dead now.
    assert Client().get(f"/accounts/invite/{token}").status_code == 404


def test_accepting_with_the_existing_account_of_that_address(alice, charlie, charlie_client, tenant_a):
    _, token = invitation_create(tenant=tenant_a, email="CHARLIE@example.com", role=Role.VIEWER, actor=alice)
    assert charlie_client.get("/t/acme/audit/").status_code == 404
    response = charlie_client.post(f"/accounts/invite/{token}")
    assert response.status_code == 302
    assert membership(charlie).role == Role.VIEWER
    assert charlie_client.get("/t/acme/audit/").status_code == 200


def test_an_invitation_for_another_address_is_refused_to_a_logged_in_user(alice, charlie_client, charlie, tenant_a):
    _, token = invitation_create(tenant=tenant_a, email="someone-else@example.com", role=Role.ADMIN, actor=alice)
    response = charlie_client.post(f"/accounts/invite/{token}")
    assert response.status_code == 200
    assert "another email address" in response.content.decode()
    assert not Membership.objects.filter(user=charlie, tenant=tenant_a).exists()


def test_an_invitation_never_demotes_an_existing_member(alice, tenant_a):
    _, token = invitation_create(tenant=tenant_a, email="other@example.com", role=Role.VIEWER, actor=alice)
    alice.email = "other@example.com"
    alice.save()
    client = Client()
    client.force_login(alice)
    client.post(f"/accounts/invite/{token}")
    assert membership(alice).role == Role.OWNER


@pytest.mark.parametrize("token", ["nope", "x" * 43, "a" * 5000, "<script>", "../../etc/passwd"])
def test_unknown_invitation_links_are_404(token, db):
    response = Client().get(f"/accounts/invite/{token}")
    assert response.status_code == 404
    assert "<script>" not in response.content.decode().split("<main", 1)[1]


def test_expired_invitations_are_404(alice, tenant_a):
    invitation, token = invitation_create(tenant=tenant_a, email="late@example.com", role=Role.VIEWER)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(f"/accounts/invite/{token}").status_code == 404


def test_withdrawn_invitations_are_404(alice_client, tenant_a):
    invitation, token = invitation_create(tenant=tenant_a, email="w@example.com", role=Role.VIEWER)
    assert alice_client.post(MEMBERS, {"invitation": invitation.pk}).status_code == 302
    assert Client().get(f"/accounts/invite/{token}").status_code == 404
    assert AuditEvent.objects.filter(action="member.invite_revoked", target="w@example.com").exists()


def test_an_owner_cannot_withdraw_another_tenants_invitation(alice_client, charlie, tenant_b):
    invitation, token = invitation_create(tenant=tenant_b, email="b@example.com", role=Role.VIEWER)
    alice_client.post(MEMBERS, {"invitation": invitation.pk})
    assert Client().get(f"/accounts/invite/{token}").status_code == 200


def test_signup_usernames_are_ascii_and_case_insensitively_unique(alice, bob, tenant_a):
    _, token = invitation_create(tenant=tenant_a, email="n2@example.com", role=Role.VIEWER)
    client = Client()
    for username in ("bоb", "BOB"):  # Cyrillic о; and bob in capitals
        response = client.post(
            f"/accounts/invite/{token}",
            {"username": username, "password1": "a-Long-passphrase-1", "password2": "a-Long-passphrase-1"},
        )
        assert response.status_code == 200
        assert response.context["form"].errors["username"]
    assert Membership.objects.filter(tenant=tenant_a).count() == 2


# --- roles and removal ------------------------------------------------------------------


def test_owner_changes_a_role(alice_client, alice, bob):
    response = alice_client.post(f"/t/acme/members/{membership(bob).pk}/role", {"role": "admin"})
    assert response.status_code == 302
    assert membership(bob).role == Role.ADMIN
    event = AuditEvent.objects.get(action="member.role_changed")
    assert (event.actor, event.target, event.details) == (alice, "bob", {"from": "viewer", "to": "admin"})


def test_owner_removes_a_member(alice_client, bob):
    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.get(AUDIT).status_code == 200
    assert alice_client.post(f"/t/acme/members/{membership(bob).pk}/remove").status_code == 302
    assert not Membership.objects.filter(user=bob).exists()
    assert AuditEvent.objects.filter(action="member.removed", target="bob").exists()
    assert bob_client.get(AUDIT).status_code == 404  # at once


def test_the_last_owner_can_be_neither_demoted_nor_removed(alice_client, alice):
    own = membership(alice)
    response = alice_client.post(f"/t/acme/members/{own.pk}/role", {"role": "admin"}, follow=True)
    assert "last owner" in response.content.decode()
    response = alice_client.post(f"/t/acme/members/{own.pk}/remove", follow=True)
    assert "last owner" in response.content.decode()
    assert membership(alice).role == Role.OWNER
    with pytest.raises(ServiceError) as exc:
        membership_change_role(membership=own, role=Role.VIEWER)
    assert exc.value.code == "last_owner"
    with pytest.raises(ServiceError):
        membership_remove(membership=own)
    with pytest.raises(ServiceError):
        membership_set(tenant=own.tenant, user=alice, role=Role.ADMIN)


def test_with_two_owners_one_may_step_down(alice_client, alice, bob):
    membership_change_role(membership=membership(bob), role=Role.OWNER)
    response = alice_client.post(f"/t/acme/members/{membership(alice).pk}/role", {"role": "admin"})
    assert response.status_code == 302 and response["Location"] == "/t/acme/"
    assert membership(alice).role == Role.ADMIN
    # ... and now bob is the last owner.
    with pytest.raises(ServiceError):
        membership_remove(membership=membership(bob))


def test_an_owner_cannot_touch_another_tenants_members(alice_client, charlie):
    other = Membership.objects.get(user=charlie)
    assert alice_client.post(f"/t/acme/members/{other.pk}/role", {"role": "viewer"}).status_code == 404
    assert alice_client.post(f"/t/acme/members/{other.pk}/remove").status_code == 404
    assert alice_client.post(f"/t/globex/members/{other.pk}/remove").status_code == 404
    other.refresh_from_db()
    assert other.role == Role.ADMIN


@pytest.mark.parametrize("who", ["bob", "dave", "erin"])
def test_non_owners_cannot_manage_members(who, request, alice):
    user = request.getfixturevalue(who)
    client = Client()
    client.force_login(user)
    target = membership(alice).pk
    assert client.post(f"/t/acme/members/{target}/role", {"role": "viewer"}).status_code == 403
    assert client.post(f"/t/acme/members/{target}/remove").status_code == 403
    assert client.post(INVITE, {"email": "x@example.com", "role": "owner"}).status_code == 403
    assert not Invitation.objects.exists()
    assert membership(alice).role == Role.OWNER


# --- the audit page -------------------------------------------------------------------


@pytest.mark.parametrize("who,status", [("bob", 200), ("dave", 200), ("erin", 200), ("alice", 200), ("charlie", 404)])
def test_every_member_reads_the_audit_trail_and_no_one_else(who, status, request, alice, bob):
    client = Client()
    client.force_login(request.getfixturevalue(who))
    assert client.get(AUDIT).status_code == status


def test_audit_page_shows_only_this_tenants_events_newest_first(alice_client, tenant_a, tenant_b):
    audit_record(tenant=tenant_a, actor="ops", action="key.added", target="acme-first")
    audit_record(tenant=tenant_a, actor="ops", action="key.revoked", target="acme-second")
    audit_record(tenant=tenant_b, actor="ops", action="key.added", target="globex-secret")
    audit_record(tenant=None, actor="anonymous", action="login.failed", target="someone")
    text = alice_client.get(AUDIT).content.decode()
    assert "globex-secret" not in text and "someone" not in text
    assert text.index("acme-second") < text.index("acme-first")


def test_audit_filters_by_action_and_actor(alice_client, tenant_a):
    audit_record(tenant=tenant_a, actor="api-key:sgn_1", action="key.added", target="t-one")
    audit_record(tenant=tenant_a, actor="bob", action="key.added", target="t-two")
    audit_record(tenant=tenant_a, actor="bob", action="widget.policy_changed", target="t-three")
    text = alice_client.get(AUDIT, {"action": "key.added"}).content.decode()
    assert "t-one" in text and "t-two" in text and "t-three" not in text
    text = alice_client.get(AUDIT, {"action": "key.added", "actor": "bob"}).content.decode()
    assert "t-one" not in text and "t-two" in text and "t-three" not in text


@pytest.mark.parametrize(
    "params",
    [{"action": "<script>alert(1)</script>"}, {"action": "x" * 5000}, {"actor": "a\x00b"}, {"action": "DROP TABLE"}],
)
def test_bad_audit_filters_get_a_clear_error(alice_client, tenant_a, params):
    audit_record(tenant=tenant_a, actor="ops", action="key.added", target="visible")
    response = alice_client.get(AUDIT, params)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Not filtered" in text and "visible" not in text
    assert "<script>alert(1)</script>" not in text


def test_audit_is_paginated_by_50(alice_client, tenant_a):
    AuditEvent.objects.bulk_create(
        [AuditEvent(tenant=tenant_a, actor_label="ops", action="key.added", target=f"t{i:03}") for i in range(120)]
    )
    total = AuditEvent.objects.filter(tenant=tenant_a).count()
    page1 = alice_client.get(AUDIT)
    assert len(page1.context["page"].object_list) == 50
    assert page1.context["page"].paginator.count == total
    last = alice_client.get(AUDIT, {"page": 3})
    assert len(last.context["page"].object_list) == total - 100
    for page in ("0", "-1", "abc", "99999999999999999999"):
        assert alice_client.get(AUDIT, {"page": page}).status_code == 200
    filtered = alice_client.get(AUDIT, {"action": "key.added", "page": 2})
    assert 'href="?action=key.added&amp;page=3"' in filtered.content.decode()


def test_audit_page_has_no_way_to_change_events(alice_client, tenant_a):
    audit_record(tenant=tenant_a, actor="ops", action="key.added", target="fixed")
    before = list(AuditEvent.objects.values())
    assert alice_client.post(AUDIT, {"action": "x"}).status_code == 405
    assert alice_client.delete(AUDIT).status_code == 405
    assert list(AuditEvent.objects.values()) == before
    text = alice_client.get(AUDIT).content.decode()
    assert 'method="post"' not in text.split("<main", 1)[1].split("</main>")[0]


def test_audit_queries_are_bounded(alice_client, tenant_a, django_assert_max_num_queries):
    AuditEvent.objects.bulk_create(
        [AuditEvent(tenant=tenant_a, actor_label="ops", action="key.added", target=f"t{i}") for i in range(80)]
    )
    # session, user, membership, count, page, distinct actions, distinct actors, session save, switcher
    with django_assert_max_num_queries(12):
        alice_client.get(AUDIT)


# --- every security-relevant change writes an audit event in its own transaction -----


def test_member_changes_are_audited_atomically(alice, bob, tenant_a, monkeypatch):
    """If the audit write fails, the change does not happen."""
    import portal.services as services

    def broken(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_record", broken)
    with pytest.raises(RuntimeError):
        membership_change_role(membership=membership(bob), role=Role.ADMIN, actor=alice)
    assert membership(bob).role == Role.VIEWER
    with pytest.raises(RuntimeError):
        membership_remove(membership=membership(bob), actor=alice)
    assert Membership.objects.filter(user=bob).exists()
    with pytest.raises(RuntimeError):
        invitation_create(tenant=tenant_a, email="z@example.com", role=Role.VIEWER, actor=alice)
    assert not Invitation.objects.exists()
