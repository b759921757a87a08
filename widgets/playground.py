"""The playground (issue 5). Placeholder until that work lands."""

from django.http import Http404

from portal.models import Role
from portal.tenancy import tenant_view


@tenant_view(Role.VIEWER)
def playground(request):
    raise Http404
