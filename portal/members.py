"""Members, invitations and the audit page (issue 6). Placeholders until that work lands."""

from django.http import Http404

from portal.models import Role
from portal.tenancy import tenant_view


@tenant_view(Role.OWNER)
def members(request):
    raise Http404


invite = change_role = remove = members
audit = tenant_view(Role.VIEWER)(lambda request: (_ for _ in ()).throw(Http404()))


def accept_invite(request, token):
    raise Http404
