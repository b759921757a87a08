"""JSON API: the tenant's platform encryption keys, and visitor-session redemption (see ../shared/API.md)."""

from keys import platform
from keys.models import EncryptionKey
from keys.selectors import encryption_key_for, encryption_keys_of
from portal.api import api_endpoint, require_object
from widgets import sessions
from widgets.serializers import rfc3339


def _actor(request) -> str:
    return f"api-key:sgn_{request.api_key_prefix}_…"


def encryption_key_json(key: EncryptionKey) -> dict:
    """EncKey: public material only."""
    return {
        "kid": key.kid,
        "status": key.status,
        "public_key_pem": key.public_key_pem,
        "jwk": platform.encryption_key_public_jwk(key),
        "fingerprint_sha256": key.fingerprint_sha256,
        "created_at": rfc3339(key.created_at),
        "retired_at": rfc3339(key.retired_at),
    }


@api_endpoint("GET", "POST")
def encryption_keys(request):
    if request.method == "GET":
        return 200, {"keys": [encryption_key_json(k) for k in encryption_keys_of(tenant=request.tenant)]}
    require_object(request.json if request.json is not None else {}, allowed=set())
    key = platform.encryption_key_create(tenant=request.tenant, actor=_actor(request))
    return 201, encryption_key_json(key)


@api_endpoint("POST")
def encryption_key_retire(request, kid):
    key = platform.encryption_key_retire(key=encryption_key_for(tenant=request.tenant, kid=kid), actor=_actor(request))
    return 200, encryption_key_json(key)


@api_endpoint("POST")
def session_redeem(request):
    body = require_object(request.json, allowed={"token"})
    return 200, sessions.session_redeem(tenant=request.tenant, token=body.get("token"))
