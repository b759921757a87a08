"""Writes to tenancy data: tenants, members and invitations, API keys, the audit
trail and the login throttle. Each service validates, saves and records the audit
event in one transaction; callers pass keyword arguments only."""

import hashlib
import ipaddress
import logging
import re
import secrets
import smtplib
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.errors import ServiceError
from portal.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    LoginThrottle,
    Membership,
    Role,
    Tenant,
    hash_api_key,
    new_api_key,
)

log = logging.getLogger("signet")

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")


def actor_label_of(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return getattr(actor, "username", str(actor))


def audit_record(*, tenant, actor, action: str, target: str = "", details: dict | None = None, ip: str | None = None):
    """Append an audit event. Call inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        tenant=tenant,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label_of(actor)[:150],
        action=action,
        target=str(target)[:200],
        details=details or {},
        ip=ip,
    )


def tenant_create(*, slug: str, name: str, actor=None) -> Tenant:
    slug = (slug or "").strip()
    name = (name or "").strip() or slug
    if not SLUG_RE.match(slug):
        raise ServiceError(
            "invalid_request",
            "The slug must be 1 to 50 lowercase letters, digits or hyphens, not starting or ending with a hyphen.",
            field="slug",
        )
    if len(name) > 120:
        raise ServiceError("invalid_request", "The name must be at most 120 characters.", field="name")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(slug=slug, name=name)
            audit_record(tenant=tenant, actor=actor, action="tenant.created", target=slug)
    except IntegrityError:
        raise ServiceError("duplicate", f"A tenant with the slug '{slug}' already exists.", field="slug") from None
    return tenant


def _lock_tenant(tenant: Tenant) -> None:
    """Serialise membership changes of one tenant, so the last-owner rule holds under races."""
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()


def _refuse_losing_last_owner(membership: Membership, *, action: str) -> None:
    if membership.role != Role.OWNER:
        return
    others = Membership.objects.filter(tenant_id=membership.tenant_id, role=Role.OWNER).exclude(pk=membership.pk)
    if not others.exists():
        raise ServiceError(
            "last_owner",
            f"{membership.user.username} is the last owner of this tenant and cannot be {action}; "
            "make another member an owner first.",
            field="role",
            status=409,
        )


def membership_set(*, tenant: Tenant, user, role: str, actor=None) -> Membership:
    if role not in Role.values:
        raise ServiceError("invalid_request", f"Unknown role '{role}'.", field="role")
    with transaction.atomic():
        _lock_tenant(tenant)
        membership, created = Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": role})
        if not created and membership.role != role:
            _refuse_losing_last_owner(membership, action="demoted")
            old = membership.role
            membership.role = role
            membership.save(update_fields=["role", "updated_at"])
            audit_record(
                tenant=tenant,
                actor=actor,
                action="member.role_changed",
                target=user.username,
                details={"from": old, "to": role},
            )
        elif created:
            audit_record(
                tenant=tenant, actor=actor, action="member.added", target=user.username, details={"role": role}
            )
    return membership


def has_control_characters(text: str) -> bool:
    """C0 controls or DEL: PostgreSQL refuses NUL in text, and the others only hide things in lists."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def api_key_create(*, tenant: Tenant, name: str = "", actor=None) -> tuple[ApiKey, str]:
    """Create an API key; return it and the full secret, which is never stored."""
    if not isinstance(name, str | None):
        raise ServiceError("invalid_request", "The name must be text.", field="name")
    name = (name or "").strip()
    if len(name) > 120:
        raise ServiceError("invalid_request", "The name must be at most 120 characters.", field="name")
    if has_control_characters(name):
        raise ServiceError("invalid_request", "The name must not contain control characters.", field="name")
    raw, prefix = new_api_key()
    with transaction.atomic():
        key = ApiKey.objects.create(
            tenant=tenant,
            name=name,
            prefix=prefix,
            key_hash=hash_api_key(raw),
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_record(
            tenant=tenant, actor=actor, action="api_key.created", target=f"sgn_{prefix}_…", details={"name": name}
        )
    return key, raw


def api_key_revoke(*, api_key: ApiKey, actor=None) -> ApiKey:
    if api_key.revoked_at is not None:
        return api_key
    with transaction.atomic():
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            tenant=api_key.tenant,
            actor=actor,
            action="api_key.revoked",
            target=f"sgn_{api_key.prefix}_…",
            details={"name": api_key.name},
        )
        # The post_save receiver (portal/signals.py) drops the cached entry and leaves a tombstone.
    return api_key


# --- Members and invitations -------------------------------------------------


def membership_change_role(*, membership: Membership, role: str, actor=None) -> Membership:
    """Change a member's role; the last owner of a tenant can never be demoted."""
    if role not in Role.values:
        raise ServiceError("invalid_request", "Choose one of owner, admin, developer or viewer.", field="role")
    with transaction.atomic():
        _lock_tenant(membership.tenant)
        membership = Membership.objects.select_related("user", "tenant").get(pk=membership.pk)
        if membership.role == role:
            return membership
        _refuse_losing_last_owner(membership, action="demoted")
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        audit_record(
            tenant=membership.tenant,
            actor=actor,
            action="member.role_changed",
            target=membership.user.username,
            details={"from": old, "to": role},
        )
    return membership


def membership_remove(*, membership: Membership, actor=None) -> None:
    """Remove a member from the tenant (the account stays); never the last owner."""
    with transaction.atomic():
        _lock_tenant(membership.tenant)
        membership = Membership.objects.select_related("user", "tenant").get(pk=membership.pk)
        _refuse_losing_last_owner(membership, action="removed")
        tenant, username, role = membership.tenant, membership.user.username, membership.role
        membership.delete()
        audit_record(tenant=tenant, actor=actor, action="member.removed", target=username, details={"role": role})


INVITATION_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
DOT_ATOM_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def hash_invitation_token(raw: str) -> str:
    # 256 random bits: a fast hash suffices, and only the hash is stored.
    return hashlib.sha256(raw.encode()).hexdigest()


def _clean_email(email) -> str:
    if not isinstance(email, str):
        raise ServiceError("invalid_request", "Enter an email address.", field="email")
    email = email.strip()
    if not email:
        raise ServiceError("invalid_request", "Enter an email address.", field="email")
    if len(email) > 254 or not email.isascii():
        # Non-ASCII addresses are refused so that a look-alike (homograph) address cannot be invited
        # by mistake; international domains can be entered in their ASCII (xn--) form.
        raise ServiceError(
            "invalid_request",
            "Enter a plain ASCII email address of at most 254 characters (xn-- form for international domains).",
            field="email",
        )
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError("invalid_request", "Enter a valid email address.", field="email") from None
    local, _, domain = email.rpartition("@")
    if not DOT_ATOM_RE.match(local):
        # RFC 5322 allows quoted local parts ("a b"@x); no one is invited with one, and they carry markup.
        raise ServiceError("invalid_request", "Enter a valid email address (no quotes or spaces).", field="email")
    return f"{local}@{domain.lower()}"


def invitation_create(*, tenant: Tenant, email, role, actor=None, ip: str | None = None) -> tuple[Invitation, str]:
    """Invite an email address; return the invitation and its raw token (shown once, stored hashed).

    A pending invitation of the same address to the same tenant is superseded. Whether the
    address already has an account elsewhere is never looked at, so nothing can reveal it.
    """
    email = _clean_email(email)
    if role not in Role.values:
        raise ServiceError("invalid_request", "Choose one of owner, admin, developer or viewer.", field="role")
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise ServiceError(
            "already_member", f"{email} already belongs to a member of this tenant.", field="email", status=409
        )
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    days = settings.SIGNET.get("INVITATION_DAYS", 7)
    with transaction.atomic():
        Invitation.objects.filter(
            tenant=tenant, email__iexact=email, accepted_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        invitation = Invitation.objects.create(
            tenant=tenant,
            email=email,
            role=role,
            token_hash=hash_invitation_token(raw),
            invited_by=actor if getattr(actor, "pk", None) else None,
            expires_at=now + timedelta(days=days),
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="member.invited",
            target=email,
            details={"role": role, "expires_at": invitation.expires_at.isoformat()},
            ip=ip,
        )
    return invitation, raw


def invitation_send(*, invitation: Invitation, link: str) -> bool:
    """Email the invitation link (console backend unless EMAIL_URL says otherwise). False if sending failed."""
    inviter = invitation.invited_by.username if invitation.invited_by else "An owner"
    try:
        send_mail(
            subject=f"You are invited to {invitation.tenant.name} on Signet",
            message=(
                f"{inviter} invited you to join {invitation.tenant.name} on Signet as "
                f"{Role(invitation.role).label.lower()}.\n\nOpen this link to accept (valid until "
                f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC, usable once):\n\n{link}\n\n"
                "If you did not expect this invitation, ignore this email."
            ),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("invitation email to tenant %s failed: %s", invitation.tenant.slug, exc.__class__.__name__)
        return False
    return True


def invitation_pending_by_token(*, token) -> Invitation | None:
    """The pending (unused, unexpired) invitation of a raw token, or None."""
    if not isinstance(token, str) or not INVITATION_TOKEN_RE.match(token):
        return None
    return (
        Invitation.objects.select_related("tenant", "invited_by")
        .filter(token_hash=hash_invitation_token(token), accepted_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def invitation_revoke(*, invitation: Invitation, actor=None) -> None:
    with transaction.atomic():
        updated = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, expires_at__gt=timezone.now()
        ).update(expires_at=timezone.now())
        if updated:
            audit_record(
                tenant=invitation.tenant,
                actor=actor,
                action="member.invite_revoked",
                target=invitation.email,
                details={"role": invitation.role},
            )


def invitation_accept(*, invitation: Invitation, user, ip: str | None = None) -> Membership:
    """Make `user` a member as the invitation says, once. The account's email must be the invited one."""
    with transaction.atomic():
        _lock_tenant(invitation.tenant)
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("tenant")
            .filter(pk=invitation.pk, accepted_at__isnull=True, expires_at__gt=timezone.now())
            .first()
        )
        if invitation is None:
            raise ServiceError("invalid_invitation", "This invitation link is not valid any more.", status=404)
        if (user.email or "").strip().lower() != invitation.email.lower():
            raise ServiceError(
                "email_mismatch",
                "This invitation was sent to another email address than the one of your account. "
                "Log out and open the link again to create an account for it.",
                status=403,
            )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        membership, created = Membership.objects.get_or_create(
            user=user, tenant=invitation.tenant, defaults={"role": invitation.role}
        )
        audit_record(
            tenant=invitation.tenant,
            actor=user,
            action="member.joined",
            target=user.username,
            # An existing member keeps their role: an invitation never demotes anyone.
            details={"role": membership.role, "invited_as": invitation.role, "already_member": not created},
            ip=ip,
        )
    return membership


def invitation_accept_new_user(*, invitation: Invitation, username: str, password: str, ip: str | None = None):
    """Create an account for the invited address and accept the invitation, in one transaction."""
    user_model = get_user_model()
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(username=username, email=invitation.email, password=password)
            invitation_accept(invitation=invitation, user=user, ip=ip)
    except IntegrityError:
        raise ServiceError("duplicate", "That username is not available; choose another.", field="username") from None
    return user


# --- Login throttle ----------------------------------------------------------
#
# Counters live in the database (LoginThrottle), so every worker process sees the
# same ones. Two scopes are counted: the username as typed (whether or not such an
# account exists, so a lock never tells an account exists) and the client address
# (an IPv6 client counts per /64, which one client usually holds whole). After
# half the allowed failures each further failure makes the scope wait a few
# seconds (slowed); at the limit it is locked for LOGIN_LOCK_SECONDS.


def _throttle_policy() -> dict:
    signet = settings.SIGNET
    return {
        "user": signet.get("LOGIN_FAILURES_BEFORE_LOCK", 5),
        "ip": signet.get("LOGIN_FAILURES_PER_ADDRESS", 20),
        "lock": signet.get("LOGIN_LOCK_SECONDS", 15 * 60),
    }


def _username_scope(username: str) -> str:
    name = unicodedata.normalize("NFKC", username or "").strip().casefold()
    if len(name) > 150:
        name = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    return "user:" + name


def _address_scope(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "ip:" + ip[:64]
    if address.version == 6:
        if address.ipv4_mapped:
            return "ip:" + str(address.ipv4_mapped)
        return "ip:" + str(ipaddress.ip_network(f"{address}/64", strict=False))
    return "ip:" + str(address)


def _throttle_scopes(username: str | None, ip: str | None) -> list[tuple[str, int]]:
    policy = _throttle_policy()
    scopes = []
    if username:
        scopes.append((_username_scope(username), policy["user"]))
    if ip:
        scopes.append((_address_scope(ip), policy["ip"]))
    return scopes


def login_lock_remaining(*, username: str | None, ip: str | None) -> int:
    """Seconds until a login for this username from this address may be tried again (0: now)."""
    scopes = [scope for scope, _ in _throttle_scopes(username, ip)]
    now = timezone.now()
    until = (
        LoginThrottle.objects.filter(scope__in=scopes, locked_until__gt=now)
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    return max(1, int((until - now).total_seconds() + 0.999)) if until else 0


def _count_failure(scope: str, limit: int, now) -> int:
    """Add a failure to one scope; return the seconds it is now locked for (0: not locked)."""
    policy = _throttle_policy()
    try:
        with transaction.atomic():
            row = LoginThrottle.objects.select_for_update().filter(scope=scope).first()
            if row is None:
                row = LoginThrottle.objects.create(scope=scope)
    except IntegrityError:  # another worker created it a moment ago
        row = LoginThrottle.objects.select_for_update().get(scope=scope)
    quiet_since = row.updated_at and row.updated_at < now - timedelta(seconds=policy["lock"])
    if quiet_since and not (row.locked_until and row.locked_until > now):
        row.failures = 0  # an old run of failures is forgotten after a quiet period
    row.failures += 1
    slow_after = limit // 2 + 1
    if row.failures >= limit:
        seconds = policy["lock"]
    elif row.failures >= slow_after:
        seconds = min(2 ** (row.failures - slow_after + 1), 60)
    else:
        seconds = 0
    row.locked_until = now + timedelta(seconds=seconds) if seconds else row.locked_until
    row.save(update_fields=["failures", "locked_until", "updated_at"])
    return seconds


def login_failure_record(*, username: str | None, ip: str | None) -> int:
    """Count a failed login for the username and the address; audit it. Return the lock in seconds (0: none)."""
    now = timezone.now()
    with transaction.atomic():
        locked = max([_count_failure(scope, limit, now) for scope, limit in _throttle_scopes(username, ip)] or [0])
        audit_record(
            tenant=None,
            actor="anonymous",
            action="login.failed",
            target=(username or "")[:200],
            details={"locked_seconds": locked} if locked else {},
            ip=ip,
        )
    return locked


def login_success_record(*, username: str) -> None:
    """A correct password clears the account's counter (never the address's: one valid account must
    not let an attacker reset the counter of the address they guess other accounts from)."""
    LoginThrottle.objects.filter(scope=_username_scope(username)).delete()
