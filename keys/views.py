"""Key pages: the public session JWKS, and the tenant's platform encryption keys."""

import json

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from keys import platform
from keys.selectors import encryption_key_for, encryption_keys_of
from portal.api import api_endpoint
from portal.models import Role
from portal.tenancy import tenant_view


@api_endpoint("GET", auth=False)  # another method: 405 with the envelope and Allow
def session_jwks(request):
    """The portal's session-signing public keys: public, cacheable, no authentication."""
    response = JsonResponse(platform.session_jwks())
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@tenant_view(Role.VIEWER)
@require_GET
def encryption_keys(request):
    keys = list(encryption_keys_of(tenant=request.tenant))
    publish = platform.publishable_key(keys)
    return render(request, "keys/encryption_keys.html", {"keys": keys, "publish": publish})


@tenant_view(Role.ADMIN)
@require_POST
def encryption_key_create(request):
    key = platform.encryption_key_create(tenant=request.tenant, actor=request.user)
    messages.success(
        request,
        f"Encryption key {key.kid} created. It is now the one to publish: give its public key to your website's "
        "developers.",
    )
    return redirect("keys:encryption_keys", tenant_slug=request.tenant.slug)


@tenant_view(Role.ADMIN)
@require_POST
def encryption_key_retire(request, kid):
    key = platform.encryption_key_retire(key=encryption_key_for(tenant=request.tenant, kid=kid), actor=request.user)
    messages.success(request, f"Encryption key {key.kid} retired: data encrypted to it no longer decrypts.")
    return redirect("keys:encryption_keys", tenant_slug=request.tenant.slug)


def _download(body: str, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@tenant_view(Role.VIEWER)
@require_GET
def encryption_key_pem(request, kid):
    key = encryption_key_for(tenant=request.tenant, kid=kid)
    return _download(key.public_key_pem, filename=f"{key.kid}.pem", content_type="application/x-pem-file")


@tenant_view(Role.VIEWER)
@require_GET
def encryption_key_jwk(request, kid):
    key = encryption_key_for(tenant=request.tenant, kid=kid)
    body = json.dumps(platform.encryption_key_public_jwk(key), indent=2) + "\n"
    return _download(body, filename=f"{key.kid}.jwk.json", content_type="application/json")
