"""The one path from a browser request to tenant-owned data.

Every portal URL that shows tenant data lives under `/t/<tenant_slug>/` and is
wrapped in `tenant_view`: it resolves the user's membership of that tenant
(404 when there is none, so another tenant's existence is never revealed),
checks the role (403), and sets `request.tenant` and `request.membership`.
Views then reach widgets and keys only through selectors that take the tenant.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from portal.models import Role
from portal.selectors import membership_for, memberships_of


def tenant_view(role: str = Role.VIEWER):
    """Decorate a view taking `(request, tenant_slug, ...)`; the view receives `(request, ...)`."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, tenant_slug, *args, **kwargs):
            membership = membership_for(user=request.user, tenant_slug=tenant_slug)
            if not membership.has_role(role):
                raise PermissionDenied(f"This needs the {Role(role).label} role or higher.")
            request.tenant = membership.tenant
            request.membership = membership
            if request.session.get("tenant") != membership.tenant.slug:
                request.session["tenant"] = membership.tenant.slug
            return view(request, *args, **kwargs)

        wrapped.tenant_role = role
        return wrapped

    return decorator


def tenant_context(request):
    """Template context: the current tenant, the user's role, and the tenant switcher."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    return {
        "current_tenant": getattr(request, "tenant", None),
        "membership": membership,
        "can_admin": bool(membership and membership.has_role(Role.ADMIN)),
        "is_owner": bool(membership and membership.has_role(Role.OWNER)),
        "switcher": memberships_of(user=request.user) if membership else [],
    }
