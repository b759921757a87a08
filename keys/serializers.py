"""JSON shapes of the API contract (Key, JWK)."""

from keys.models import SigningKey
from widgets.serializers import rfc3339


def key_json(key: SigningKey) -> dict:
    return {
        "kid": key.kid,
        "name": key.name,
        "key_type": key.key_type,
        "curve": key.curve or None,
        "bits": key.bits,
        "algorithms": list(key.algorithms),
        "fingerprint_sha256": key.fingerprint_sha256,
        "jwk_thumbprint": key.jwk_thumbprint,
        "status": key.effective_status,
        "is_test": key.is_test,
        "source_format": key.source_format,
        "created_at": rfc3339(key.created_at),
        "expires_at": rfc3339(key.expires_at),
        "revoked_at": rfc3339(key.revoked_at),
        "last_used_at": rfc3339(key.last_used_at),
    }
