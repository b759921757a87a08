"""Portal pages that are not about one widget: home, tenant switch, API keys; and /healthz."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from portal.api import api_endpoint
from portal.errors import ServiceError
from portal.models import Role
from portal.selectors import api_key_for, api_keys_of, memberships_of
from portal.services import api_key_create, api_key_revoke
from portal.tenancy import tenant_view

log = logging.getLogger("signet")


@never_cache
@api_endpoint("GET", auth=False)  # another method: 405 with the envelope and Allow, never a CSRF page
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        log.error("healthz: database unavailable: %s", exc.__class__.__name__)
        return JsonResponse(
            {
                "status": "unavailable",
                "database": "down",
                "error": {"code": "service_unavailable", "message": "The database is not answering."},
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
def favicon(request):
    """No icon (our pages say so with `data:,`); browsers ask anyway, on the Django admin's pages too."""
    response = HttpResponse(status=204)
    response["Cache-Control"] = "public, max-age=86400"
    return response


@login_required
def home(request):
    """Send the user to the tenant they used last, or their first one."""
    memberships = list(memberships_of(user=request.user))
    if not memberships:
        return render(request, "portal/no_tenant.html", status=200)
    wanted = request.session.get("tenant")
    chosen = next((m for m in memberships if m.tenant.slug == wanted), memberships[0])
    return redirect("widgets:dashboard", tenant_slug=chosen.tenant.slug)


@login_required
def playground_redirect(request):
    """/playground/ opens the playground of the tenant used last (or the first one)."""
    memberships = list(memberships_of(user=request.user))
    if not memberships:
        return render(request, "portal/no_tenant.html")
    wanted = request.session.get("tenant")
    chosen = next((m for m in memberships if m.tenant.slug == wanted), memberships[0])
    return redirect("widgets:playground", tenant_slug=chosen.tenant.slug)


@tenant_view(Role.VIEWER)
def api_keys(request):
    """Every member sees the tenant's API keys (names and prefixes only); admins create and revoke them."""
    new_key = None
    error = None
    if request.method == "POST":
        if not request.membership.has_role(Role.ADMIN):
            raise PermissionDenied("Creating API keys needs the Admin role.")
        try:
            key, new_key = api_key_create(tenant=request.tenant, name=request.POST.get("name", ""), actor=request.user)
        except ServiceError as exc:
            error = exc.message
        else:
            messages.success(request, f"API key '{key.name or key.prefix}' created.")
    context = {
        "keys": api_keys_of(tenant=request.tenant),
        "new_key": new_key,
        "error": error,
        "name": request.POST.get("name", "") if error else "",
        "can_admin": request.membership.has_role(Role.ADMIN),
    }
    response = render(request, "portal/api_keys.html", context, status=400 if error else 200)
    if new_key:
        # The secret is on this page alone: no cache may keep a copy, and reloading must not repost.
        response["Cache-Control"] = "no-store"
    return response


@tenant_view(Role.ADMIN)
@require_POST
def api_key_revoke_view(request, prefix):
    key = api_key_for(tenant=request.tenant, prefix=prefix)
    if key.revoked_at is not None:
        messages.info(request, f"API key sgn_{key.prefix}_… was already revoked.")
    else:
        api_key_revoke(api_key=key, actor=request.user)
        messages.success(request, f"API key sgn_{key.prefix}_… revoked; requests with it now get 401.")
    return redirect("portal:api_keys", tenant_slug=request.tenant.slug)
