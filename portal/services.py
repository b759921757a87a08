"""Writes to tenancy data. Each service validates, saves and records the audit
event in one transaction; callers pass keyword arguments only."""

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import sharedcache
from portal.errors import ServiceError
from portal.models import ApiKey, AuditEvent, Membership, Role, Tenant, hash_api_key, new_api_key

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


def membership_set(*, tenant: Tenant, user, role: str, actor=None) -> Membership:
    if role not in Role.values:
        raise ServiceError("invalid_request", f"Unknown role '{role}'.", field="role")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": role})
        if not created and membership.role != role:
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


def api_key_create(*, tenant: Tenant, name: str = "", actor=None) -> tuple[ApiKey, str]:
    """Create an API key; return it and the full secret, which is never stored."""
    name = (name or "").strip()
    if len(name) > 120:
        raise ServiceError("invalid_request", "The name must be at most 120 characters.", field="name")
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
        # Now and again after commit, so no reader keeps the pre-revocation row.
        sharedcache.delete(f"apikey:{api_key.prefix}")
        transaction.on_commit(lambda: sharedcache.delete(f"apikey:{api_key.prefix}"))
    return api_key
