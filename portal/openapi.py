"""GET /api/v1/openapi.json — the OpenAPI 3 description of the v1 API."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def openapi_json(request):
    return JsonResponse({"openapi": "3.1.0", "info": {"title": "Signet API", "version": "1"}, "paths": {}})
