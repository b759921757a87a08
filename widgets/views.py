"""Portal pages of a tenant: dashboard, widget page (settings, keys, allowlist, embed)."""

from django.http import HttpResponse

from portal.models import Role
from portal.tenancy import tenant_view


@tenant_view(Role.VIEWER)
def dashboard(request):
    return HttpResponse("dashboard")


widget_create_view = widget_detail = widget_settings = key_add = key_revoke = allowlist_add = allowlist_remove = (
    dashboard
)
