"""Public key publication: the portal's session-signing keys (issue 7)."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def session_jwks(request):
    response = JsonResponse({"keys": []})
    response["Cache-Control"] = "public, max-age=300"
    return response
