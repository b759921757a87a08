"""Public key publication: the portal's session-signing keys (issue 7)."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def session_jwks(request):
    response = JsonResponse({"keys": []})
    response["Cache-Control"] = "public, max-age=300"
    return response


def encryption_keys(request, tenant_slug):
    """Placeholder until the encryption work (issue 7) lands."""
    from django.http import Http404

    raise Http404
