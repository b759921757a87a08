"""Reads of tenancy data. Every other selector takes the tenant these return."""

from django.db.models import QuerySet
from django.http import Http404

from portal.models import ApiKey, AuditEvent, Membership, Tenant


def memberships_of(*, user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def membership_for(*, user, tenant_slug: str) -> Membership:
    try:
        return Membership.objects.select_related("tenant").get(user=user, tenant__slug=tenant_slug)
    except Membership.DoesNotExist:
        raise Http404("No such tenant.") from None


def tenant_by_slug(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def members_of(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")


def member_for(*, tenant: Tenant, membership_id: int) -> Membership:
    try:
        return Membership.objects.select_related("user").get(tenant=tenant, pk=membership_id)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404("No such member.") from None


def api_keys_of(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).select_related("created_by")


def api_key_for(*, tenant: Tenant, prefix: str) -> ApiKey:
    try:
        return ApiKey.objects.get(tenant=tenant, prefix=prefix)
    except ApiKey.DoesNotExist:
        raise Http404("No such API key.") from None


def audit_events_of(*, tenant: Tenant) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(tenant=tenant).select_related("actor")
