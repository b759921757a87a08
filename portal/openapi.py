"""GET /api/v1/openapi.json — the OpenAPI 3 description of the v1 API (../shared/API.md).

The document is a plain dict built once at import and served from memory
(`Cache-Control: public, max-age=300`), without authentication. It is
OpenAPI 3.0.3 on purpose: it is what contract-testing tools (schemathesis)
and validators handle best. Paths are server-relative (`servers: [{"url": "/"}]`).

Request schemas follow the validators of widgets/services.py, keys/services.py
and widgets/verification.py: objects the server refuses unknown members of
have `additionalProperties: false`. Response schemas are open (no
`additionalProperties: false`) so that a member added later does not break
clients, and error codes are a pattern plus a documented list, never an
enum, so that a new code does not break schema conformance.
"""

import json

from django.http import JsonResponse

from portal.api import api_endpoint
from widgets.serializers import POLICY_FIELDS

OPENAPI_VERSION = "3.0.3"
CACHE_CONTROL = "public, max-age=300"

# --- error codes (documentation; never an enum in a response schema) ---------

REQUEST_ERROR_CODES = {
    "invalid_request": "400: the body is not JSON, not of the documented shape, or a value is out of range (`field`).",
    "invalid_key": "400: `public_key` is not a parseable public key.",
    "private_key_rejected": "400: `public_key` holds private key material; it is never stored nor echoed.",
    "weak_key": "400: an RSA key under 2048 bits.",
    "unsupported_key": "400: another curve or key type (secp256k1, Ed25519, DSA, symmetric `oct`).",
    "duplicate_key": "400: the same public key, or the same `kid`, is already registered on this widget.",
    "duplicate": "409: the object already exists.",
    "unauthenticated": "401: no `Authorization: Bearer sgn_...` header, or an unknown or revoked API key.",
    "forbidden": "403: this API key may not do that.",
    "not_found": "404: no such object for this API key's tenant (another tenant's objects look the same).",
    "method_not_allowed": "405: the method is not one of those in the `Allow` header.",
    "session_used": "409: the visitor-session token was already redeemed.",
    "request_too_large": "413: the body is over the configured limit (default 64 KiB).",
    "rate_limited": "429: this API key made too many requests this minute.",
    "service_unavailable": "503: the database is not answering; retry shortly.",
    "replay_store_unavailable": "503: the replay store is not answering, so tokens with a `jti` cannot be accepted.",
    "internal_error": "500: an unexpected failure on the server's side (logged); never a traceback.",
}

VERIFICATION_ERROR_CODES = {
    "malformed_token": "not three base64url parts of valid JSON (or five for a JWE); bad header or unknown `crit`",
    "token_too_large": "over the configured size (default 16 KiB)",
    "unsupported_algorithm": "`none`, any `HS*`, an algorithm that does not fit the key type, or an unsupported "
    "JWE `alg`/`enc`/`zip`",
    "unknown_key": "`kid` not registered on this widget, or no key at all",
    "revoked_key": "the matching key is revoked or past its `expires_at`",
    "bad_signature": "the signature does not verify",
    "expired": "`exp` is in the past (beyond the leeway)",
    "not_yet_valid": "`nbf` is in the future (beyond the leeway)",
    "issued_in_future": "`iat` is in the future (beyond the leeway)",
    "replayed": "a `jti` already accepted for this widget",
    "missing_claim": "a claim the widget's policy requires (or `exp` when `require_exp`) is absent",
    "invalid_claim": "a claim has the wrong type or value",
    "invalid_payload": "the payload is neither a JSON object of claims nor an array of fields",
    "lifetime_too_long": "`exp` - `iat` (or the token's age) exceeds the widget's maximum",
    "invalid_audience": "`aud` does not match the widget's `expected_audience`",
    "invalid_issuer": "`iss` does not match the widget's `expected_issuer`",
    "signature_required": "the widget requires a token (`require_token`) and none was sent",
    "encryption_required": "the widget demands encryption and the token is a plain JWS",
    "decryption_failed": "wrong key, tampered ciphertext or tag",
}

CODE_PATTERN = "^[a-z][a-z0-9_]*$"
MAX_SECONDS = 366 * 86400
CLAIM_TYPES = ["string", "number", "boolean", "object", "array", "any"]


def _code_list(codes: dict) -> str:
    return "\n".join(f"- `{code}`: {text}" for code, text in codes.items())


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


DATE_TIME = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC (`Z`)."}
NO_CONTROL_CHARS = "^\\s*[^\\x00-\\x1f]*\\s*$"
VISIBLE_NAME = "^[^\\x00-\\x20]{1,64}$"
# widgets/services.py LABEL_RE, after the server strips surrounding white space.
LABEL_PATTERN = "^\\s*[A-Za-z0-9][A-Za-z0-9 _.\\-:/@]{0,99}\\s*$"
KID_PATTERN = "^[A-Za-z0-9._~:@+=\\-]{0,200}$"

# `signed_required` is true exactly when `enforcement` is `enforce`: sending both in disagreement is a 400.
ENFORCEMENT_CONFLICT = {
    "anyOf": [
        {
            "required": ["enforcement", "signed_required"],
            "properties": {"enforcement": {"enum": ["enforce"]}, "signed_required": {"enum": [False]}},
        },
        {
            "required": ["enforcement", "signed_required"],
            "properties": {"enforcement": {"enum": ["off", "monitor"]}, "signed_required": {"enum": [True]}},
        },
    ]
}

# --- schemas -------------------------------------------------------------------

SCHEMAS: dict[str, dict] = {
    "ErrorDetail": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "pattern": CODE_PATTERN,
                "description": "A stable snake_case code; new codes may be added. Known codes (see "
                "`RequestErrorCode`):\n" + _code_list(REQUEST_ERROR_CODES),
            },
            "message": {"type": "string", "description": "One plain sentence for the developer."},
            "field": {
                "type": "string",
                "description": "The request member at fault, e.g. `name`, `items[2].unsigned_data[0].label`.",
            },
        },
    },
    "Error": {
        "type": "object",
        "description": "The body of every response that is not 2xx (except the verify `422`, see `VerifyFailure`).",
        "required": ["error"],
        "properties": {"error": ref("ErrorDetail")},
    },
    "RequestErrorCode": {
        "type": "string",
        "description": "Error codes known today (documentation only: clients must accept new codes).\n"
        + _code_list(REQUEST_ERROR_CODES),
        "enum": list(REQUEST_ERROR_CODES),
    },
    "VerificationErrorCode": {
        "type": "string",
        "description": "Verification codes known today (documentation only: clients must accept new codes).\n"
        + _code_list(VERIFICATION_ERROR_CODES),
        "enum": list(VERIFICATION_ERROR_CODES),
    },
    "VerificationError": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "pattern": CODE_PATTERN,
                "description": "Why the token failed; new codes may be added. Known codes (see "
                "`VerificationErrorCode`):\n" + _code_list(VERIFICATION_ERROR_CODES),
            },
            "message": {"type": "string"},
        },
    },
    # Widgets ----------------------------------------------------------------
    "Label": {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "description": "An unsigned-field label: 1 to 100 characters, letters, digits, space and `_ . - : / @`, "
        "starting with a letter or digit (surrounding white space is stripped).",
    },
    "Enforcement": {
        "type": "string",
        "enum": ["off", "monitor", "enforce"],
        "description": "`off`: accept unsigned data; `monitor`: accept, report what `enforce` would refuse "
        "(`would_reject`, `rejected_unsigned`); `enforce`: only signed or allowlisted data.",
    },
    "RequiredClaims": {
        "type": "object",
        "maxProperties": 50,
        "additionalProperties": {"type": "string", "enum": CLAIM_TYPES},
        "description": "Claim name (1 to 64 visible characters) -> required JSON type.",
    },
    "Widget": {
        "type": "object",
        # The shape of widgets/serializers.widget_json.
        "required": ["id", "name", "signed_required", "unsigned_fields", *POLICY_FIELDS, "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "Public id, URL-safe (`wgt_...`)."},
            "name": {"type": "string"},
            "signed_required": {"type": "boolean", "description": "True exactly when `enforcement` is `enforce`."},
            "unsigned_fields": {"type": "array", "items": ref("Label"), "description": "The allowlist, sorted."},
            "enforcement": ref("Enforcement"),
            "leeway_seconds": {"type": "integer", "minimum": 0, "maximum": 600},
            "max_token_age_seconds": _nullable({"type": "integer", "minimum": 1, "maximum": MAX_SECONDS}),
            "require_exp": {"type": "boolean"},
            "max_lifetime_seconds": _nullable({"type": "integer", "minimum": 1, "maximum": MAX_SECONDS}),
            "required_claims": ref("RequiredClaims"),
            "expected_audience": {"type": "string", "description": "Empty: `aud` is not checked."},
            "expected_issuer": {"type": "string", "description": "Empty: `iss` is not checked."},
            "require_token": {"type": "boolean"},
            "encryption_required": {"type": "boolean"},
            "session_subject_claim": {"type": "string"},
            "allow_developer_test_keys": {"type": "boolean"},
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
        },
    },
    "WidgetList": {
        "type": "object",
        "required": ["widgets"],
        "properties": {"widgets": {"type": "array", "items": ref("Widget")}},
    },
    "WidgetUpdate": {
        "type": "object",
        "additionalProperties": False,
        "description": "Any writable Widget field; unknown or read-only members (`id`, `created_at`, ...) are "
        "refused with `400 invalid_request`. `signed_required` and `enforcement` must agree when both are sent.",
        "not": ENFORCEMENT_CONFLICT,
        "properties": {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 120,
                "pattern": "^\\s*[^\\x00-\\x1f]*[^\\s\\x00-\\x1f][^\\x00-\\x1f]*\\s*$",
                "description": "1 to 120 characters after stripping, no control characters.",
            },
            "signed_required": {
                "type": "boolean",
                "description": "true sets `enforce`; false leaves `enforce` for `off`.",
            },
            "enforcement": ref("Enforcement"),
            "leeway_seconds": {"type": "integer", "minimum": 0, "maximum": 600},
            "max_token_age_seconds": _nullable({"type": "integer", "minimum": 1, "maximum": MAX_SECONDS}),
            "require_exp": {"type": "boolean"},
            "max_lifetime_seconds": _nullable({"type": "integer", "minimum": 1, "maximum": MAX_SECONDS}),
            "required_claims": ref("RequiredClaims"),
            "expected_audience": {"type": "string", "maxLength": 200, "pattern": NO_CONTROL_CHARS},
            "expected_issuer": {"type": "string", "maxLength": 200, "pattern": NO_CONTROL_CHARS},
            "require_token": {"type": "boolean"},
            "encryption_required": {"type": "boolean"},
            "session_subject_claim": {"type": "string", "pattern": VISIBLE_NAME},
            "allow_developer_test_keys": {"type": "boolean"},
            "unsigned_fields": {
                "type": "array",
                "maxItems": 200,
                "items": {"type": "string", "pattern": LABEL_PATTERN},
                "nullable": True,
                "description": "Replaces the allowlist (as PUT unsigned-fields); null leaves it unchanged.",
            },
        },
    },
    # Filled in below: WidgetUpdate with `name` required.
    "WidgetCreate": {},
    "UnsignedFields": {
        "type": "object",
        "required": ["fields"],
        "properties": {"fields": {"type": "array", "items": ref("Label")}},
    },
    "UnsignedFieldsUpdate": {
        "type": "object",
        "required": ["fields"],
        "additionalProperties": False,
        "properties": {
            "fields": {
                "type": "array",
                "maxItems": 200,
                "items": {"type": "string", "pattern": LABEL_PATTERN},
                "description": "The whole allowlist (duplicates are merged).",
            }
        },
    },
    # Keys --------------------------------------------------------------------
    "JWK": {
        "type": "object",
        "required": ["kty"],
        "description": "A public JSON Web Key (RFC 7517): `kty`, `crv`, `x`, `y` (EC) or `kty`, `n`, `e` (RSA).",
        "properties": {
            "kty": {"type": "string", "description": "`EC` or `RSA`."},
            "kid": {"type": "string"},
            "alg": {"type": "string"},
            "use": {"type": "string"},
            "crv": {"type": "string"},
            "x": {"type": "string"},
            "y": {"type": "string"},
            "n": {"type": "string"},
            "e": {"type": "string"},
        },
    },
    "JWKSet": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": ref("JWK")}},
    },
    "Key": {
        "type": "object",
        "required": [
            "kid",
            "name",
            "key_type",
            "curve",
            "bits",
            "algorithms",
            "fingerprint_sha256",
            "jwk_thumbprint",
            "status",
            "created_at",
            "expires_at",
            "last_used_at",
        ],
        "properties": {
            "kid": {"type": "string"},
            "name": {"type": "string"},
            "key_type": {"type": "string", "enum": ["EC", "RSA"]},
            "curve": {"type": "string", "nullable": True, "enum": ["P-256", "P-384", "P-521", None]},
            "bits": {"type": "integer"},
            "algorithms": {"type": "array", "items": {"type": "string"}, "description": 'E.g. `["ES256"]`.'},
            "fingerprint_sha256": {
                "type": "string",
                "pattern": "^[0-9a-f]{2}(:?[0-9a-f]{2}){31}$",
                "description": "SHA-256 of the SubjectPublicKeyInfo DER, lowercase hex (colon-separated).",
            },
            "jwk_thumbprint": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]{43}$",
                "description": "RFC 7638 thumbprint, base64url.",
            },
            "status": {"type": "string", "enum": ["active", "revoked", "expired"]},
            "is_test": {"type": "boolean"},
            "source_format": {"type": "string", "description": "`spki`, `pkcs1`, `certificate` or `jwk`."},
            "created_at": DATE_TIME,
            "expires_at": _nullable(DATE_TIME),
            "revoked_at": _nullable(DATE_TIME),
            "last_used_at": _nullable(DATE_TIME),
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only on registration, when there is something to know (e.g. certificate expiry).",
            },
        },
    },
    "KeyList": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": ref("Key")}},
    },
    "KeyCreate": {
        "type": "object",
        "required": ["public_key"],
        "additionalProperties": False,
        "properties": {
            "public_key": {
                "description": "PEM text (SubjectPublicKeyInfo, PKCS#1 `RSA PUBLIC KEY` or an X.509 certificate), "
                "a JWK object, or a JWK as JSON text. Private key material is refused.",
                "anyOf": [{"type": "string", "minLength": 1, "maxLength": 20000}, {"type": "object"}],
            },
            "kid": {
                "type": "string",
                "nullable": True,
                "pattern": KID_PATTERN,
                "description": "1 to 200 of `A-Z a-z 0-9 . _ ~ : @ + = -`; default: the JWK's own `kid`, "
                "else the RFC 7638 thumbprint.",
            },
            "name": {"type": "string", "nullable": True, "maxLength": 120},
            "expires_at": {
                "type": "string",
                "nullable": True,
                "description": "An RFC 3339 time in the future, or empty/null for none.",
            },
        },
    },
    # Verification ------------------------------------------------------------
    "UnsignedDatum": {
        "type": "object",
        "required": ["label", "data"],
        "properties": {
            "label": {"type": "string", "minLength": 1, "maxLength": 100},
            "data": {"nullable": True, "description": "Any JSON value."},
            "type": {
                "type": "string",
                "minLength": 1,
                "maxLength": 32,
                "description": "Default: the JSON type of `data` (`string`, `number`, `boolean`, `null`, `json`).",
            },
        },
    },
    "VerifyRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "signed_interaction_data": {
                "type": "string",
                "nullable": True,
                "description": "A compact JWS, or a compact JWE (RSA-OAEP-256 / A256GCM) of a compact JWS. "
                "Empty or null: no token.",
            },
            "unsigned_data": {
                "type": "array",
                "nullable": True,
                "maxItems": 100,
                "items": ref("UnsignedDatum"),
                "description": "Labels must be distinct.",
            },
            "issue_session": {"type": "boolean", "description": "On success, add a visitor `session`."},
        },
    },
    "Field": {
        "type": "object",
        "required": ["label", "data", "type"],
        "properties": {
            "label": {"type": "string"},
            "data": {"nullable": True, "description": "The JSON value exactly as signed."},
            "type": {"type": "string"},
        },
    },
    "VerifiedField": {
        "type": "object",
        "required": ["label", "data", "type", "signed"],
        "properties": {
            "label": {"type": "string"},
            "data": {"nullable": True, "description": "The JSON value exactly as sent or signed."},
            "type": {"type": "string"},
            "signed": {"type": "boolean"},
        },
    },
    "VisitorSession": {
        "type": "object",
        "required": ["token", "expires_at"],
        "properties": {
            "token": {"type": "string", "description": "A compact JWS signed with the portal's session key."},
            "expires_at": DATE_TIME,
        },
    },
    "VerifyResult": {
        "type": "object",
        "required": ["verified", "kid", "alg", "fields", "claims", "rejected_unsigned"],
        "properties": {
            "verified": {"type": "boolean", "description": "True only when a signature was present and checked."},
            "kid": {"type": "string", "nullable": True},
            "alg": {"type": "string", "nullable": True},
            "fields": {
                "type": "array",
                "items": ref("VerifiedField"),
                "description": "Signed fields in signed order, then the unsigned fields that pass.",
            },
            "claims": {
                "type": "object",
                "nullable": True,
                "description": "The registered claims present (`iss sub aud exp nbf iat jti`); null without a "
                "token or for a fields-array payload.",
            },
            "rejected_unsigned": {"type": "array", "items": {"type": "string"}},
            "would_reject": {
                "allOf": [ref("VerificationError")],
                "description": "`monitor` only: what `enforce` would have answered.",
            },
            "encrypted": {"type": "boolean", "description": "Present (true) when the token was a JWE."},
            "session": ref("VisitorSession"),
        },
    },
    "VerifyFailure": {
        "type": "object",
        "required": ["verified", "error"],
        "description": "A token that is present but fails (never silently dropped).",
        "properties": {
            "verified": {"type": "boolean", "enum": [False]},
            "error": ref("VerificationError"),
        },
    },
    "VerifyBatchRequest": {
        "type": "object",
        "required": ["items"],
        "additionalProperties": False,
        "properties": {"items": {"type": "array", "minItems": 1, "maxItems": 100, "items": ref("VerifyRequest")}},
    },
    "VerifyBatchResult": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {
                "type": "array",
                "description": "One per item, in order: exactly what the single call would have answered.",
                "items": {"anyOf": [ref("VerifyResult"), ref("VerifyFailure")]},
            }
        },
    },
    # Encryption keys and sessions ----------------------------------------------
    "EncryptionKey": {
        "type": "object",
        "required": ["kid", "status", "public_key_pem", "jwk", "created_at"],
        "properties": {
            "kid": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "retired"]},
            "public_key_pem": {"type": "string"},
            "fingerprint_sha256": {
                "type": "string",
                "description": "SHA-256 of the SubjectPublicKeyInfo DER, lowercase hex (colon-separated).",
            },
            "jwk": {
                "allOf": [ref("JWK")],
                "description": 'The public JWK, with `use: "enc"` and `alg: "RSA-OAEP-256"`.',
            },
            "created_at": DATE_TIME,
            "retired_at": _nullable(DATE_TIME),
        },
    },
    "EncryptionKeyList": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": ref("EncryptionKey")}},
    },
    "EncryptionKeyCreate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {},
        "nullable": True,
        "description": "No members: the server generates the key pair. The body may be omitted (or null).",
    },
    "SessionRedeemRequest": {
        "type": "object",
        "required": ["token"],
        "additionalProperties": False,
        "properties": {
            "token": {
                "type": "string",
                "minLength": 1,
                "pattern": "\\S",
                "description": "A visitor `session.token` from verify.",
            }
        },
    },
    "SessionRedeemed": {
        "type": "object",
        "required": ["widget", "sub", "fields"],
        "properties": {
            "widget": {"type": "string", "description": "The widget's public id."},
            "sub": {"type": "string", "description": "The visitor's identifier."},
            "fields": {"type": "array", "items": ref("Field"), "description": "The fields verified for the visitor."},
        },
    },
    # Insights --------------------------------------------------------------------
    "CodeCounts": {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 0},
        "description": "Outcome code -> number of verifications: `ok` (verified), `unsigned` (no token) or a "
        "verification error code.",
    },
    "FailureReason": {
        "type": "object",
        "required": ["code", "count", "fix"],
        "properties": {
            "code": {"type": "string"},
            "count": {"type": "integer", "minimum": 0},
            "share": {"type": "number", "minimum": 0, "maximum": 1},
            "fix": {"type": "string", "description": "What to do about it (empty when there is no advice)."},
        },
    },
    "Insights": {
        "type": "object",
        "description": "What the verification log says about a widget over a window.",
        "required": [
            "widget",
            "window",
            "from",
            "to",
            "bucket_seconds",
            "total",
            "by_code",
            "series",
            "top_failures",
            "keys",
            "unsigned_labels",
            "enforce_preview",
        ],
        "properties": {
            "widget": {"type": "string", "description": "The widget's public id."},
            "window": {"type": "string", "enum": ["24h", "7d", "30d"]},
            "from": DATE_TIME,
            "to": DATE_TIME,
            "bucket_seconds": {"type": "integer", "minimum": 1},
            "total": {"type": "integer", "minimum": 0},
            "by_code": ref("CodeCounts"),
            "series": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["start", "counts"],
                    "properties": {"start": DATE_TIME, "counts": ref("CodeCounts")},
                },
            },
            "top_failures": {"type": "array", "items": ref("FailureReason")},
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kid", "status", "last_used_at", "count", "share"],
                    "properties": {
                        "kid": {"type": "string"},
                        "status": {"type": "string", "enum": ["active", "revoked", "expired"]},
                        "last_used_at": _nullable(DATE_TIME),
                        "count": {"type": "integer", "minimum": 0},
                        "share": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
            },
            "unsigned_labels": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["label", "count", "allowlisted"],
                    "properties": {
                        "label": {"type": "string"},
                        "count": {"type": "integer", "minimum": 0},
                        "allowlisted": {"type": "boolean"},
                    },
                },
            },
            "enforce_preview": {
                "type": "object",
                "description": "What `enforce` would have done to the same traffic.",
                "required": ["chats", "would_be_refused", "share_refused", "would_drop_unsigned", "reasons"],
                "properties": {
                    "chats": {"type": "integer", "minimum": 0},
                    "would_be_refused": {"type": "integer", "minimum": 0},
                    "share_refused": {"type": "number", "minimum": 0},
                    "would_drop_unsigned": {"type": "integer", "minimum": 0},
                    "reasons": {"type": "array", "items": ref("FailureReason")},
                },
            },
        },
    },
    # Operations ------------------------------------------------------------------
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "description": "`ok`, or `unavailable` with a 503."},
            "database": {"type": "string", "description": "`ok` or `down`."},
            "error": ref("ErrorDetail"),
        },
    },
    "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"]},
}

SCHEMAS["WidgetCreate"] = {
    **SCHEMAS["WidgetUpdate"],
    "required": ["name"],
    "description": "`name` and any writable Widget field. `signed_required` defaults to false (`enforcement` "
    "`off`); unknown or read-only members are refused with `400 invalid_request`.",
}

# --- responses -----------------------------------------------------------------


def _error(description: str, codes: list[str]) -> dict:
    listed = ", ".join(f"`{c}`" for c in codes)
    return {"description": f"{description} Codes: {listed}.", "content": _json(ref("Error"))}


RESPONSES = {
    "BadRequest": _error(
        "The body is not JSON or not of the documented shape; `field` names the member.", ["invalid_request"]
    ),
    "Unauthenticated": _error("Missing, unknown or revoked API key.", ["unauthenticated"]),
    "Forbidden": _error("This API key may not do that.", ["forbidden"]),
    "NotFound": _error(
        "No such widget or key for this API key's tenant (another tenant's objects are answered the same).",
        ["not_found"],
    ),
    "MethodNotAllowed": {
        **_error("The method is not allowed on this URL.", ["method_not_allowed"]),
        "headers": {"Allow": {"schema": {"type": "string"}, "description": "The allowed methods."}},
    },
    "TooLarge": _error("The body is over the configured limit (default 64 KiB).", ["request_too_large"]),
    "RateLimited": _error("This API key made too many requests this minute.", ["rate_limited"]),
    "Unavailable": _error(
        "The database (or the replay store) is not answering; retry shortly.", ["service_unavailable"]
    ),
}


def _resp(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _ok(description: str, schema_name: str) -> dict:
    return {"description": description, "content": _json(ref(schema_name))}


def _operation(
    op_id: str,
    summary: str,
    responses: dict,
    *,
    tag: str,
    body: str | None = None,
    body_required: bool = True,
    not_found: bool = True,
    description: str = "",
) -> dict:
    """An authenticated /api/v1 operation with the error responses every such call can give."""
    out = dict(responses)
    if body is not None or body_required is False:
        out.setdefault("400", _resp("BadRequest"))
        out.setdefault("413", _resp("TooLarge"))
    out["401"] = _resp("Unauthenticated")
    out["403"] = _resp("Forbidden")
    if not_found:
        out.setdefault("404", _resp("NotFound"))
    out["429"] = _resp("RateLimited")
    out.setdefault("503", _resp("Unavailable"))
    op = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "security": [{"bearerAuth": []}],
        "responses": dict(sorted(out.items())),
    }
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": _json(ref(body))}
    return op


def _path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


WIDGET_ID = _path_param("widget_id", "The widget's public id (`wgt_...`).")

VERIFY_422 = {
    "description": "A token was present but failed (not in `monitor`, where it is reported as `would_reject` in "
    "a 200). Codes:\n" + _code_list(VERIFICATION_ERROR_CODES),
    "content": _json(ref("VerifyFailure")),
}
VERIFY_503 = _error(
    "The database or the replay store is not answering; retry shortly.",
    ["service_unavailable", "replay_store_unavailable"],
)
KEY_400 = _error(
    "The key was refused and nothing was stored; `field` is `public_key`, `kid`, `name` or `expires_at`.",
    ["invalid_request", "invalid_key", "private_key_rejected", "weak_key", "unsupported_key", "duplicate_key"],
)

PATHS = {
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI description of the v1 API (cacheable for 5 minutes).",
                    "headers": {"Cache-Control": {"schema": {"type": "string"}}},
                    "content": _json(ref("OpenApiDocument")),
                }
            },
        }
    },
    "/api/v1/widgets": {
        "get": _operation(
            "listWidgets",
            "List the tenant's widgets",
            {"200": _ok("The tenant's widgets, by name.", "WidgetList")},
            tag="widgets",
            not_found=False,
        ),
        "post": _operation(
            "createWidget",
            "Create a widget",
            {"201": _ok("The new widget.", "Widget")},
            tag="widgets",
            body="WidgetCreate",
            not_found=False,
        ),
    },
    "/api/v1/widgets/{widget_id}": {
        "parameters": [WIDGET_ID],
        "get": _operation("getWidget", "Read a widget", {"200": _ok("The widget.", "Widget")}, tag="widgets"),
        "patch": _operation(
            "updateWidget",
            "Change a widget's name or policy",
            {"200": _ok("The updated widget.", "Widget")},
            tag="widgets",
            body="WidgetUpdate",
        ),
    },
    "/api/v1/widgets/{widget_id}/unsigned-fields": {
        "parameters": [WIDGET_ID],
        "get": _operation(
            "getUnsignedFields",
            "Read the unsigned-field allowlist",
            {"200": _ok("The allowlisted labels, sorted.", "UnsignedFields")},
            tag="widgets",
        ),
        "put": _operation(
            "setUnsignedFields",
            "Replace the unsigned-field allowlist",
            {"200": _ok("The new allowlist, sorted.", "UnsignedFields")},
            tag="widgets",
            body="UnsignedFieldsUpdate",
        ),
    },
    "/api/v1/widgets/{widget_id}/keys": {
        "parameters": [WIDGET_ID],
        "get": _operation(
            "listKeys",
            "List the widget's signing keys",
            {"200": _ok("Every key of the widget (any status), newest first.", "KeyList")},
            tag="keys",
        ),
        "post": _operation(
            "registerKey",
            "Register a public signing key",
            {"201": _ok("The registered key, with `warnings` when there is something to know.", "Key"), "400": KEY_400},
            tag="keys",
            body="KeyCreate",
        ),
    },
    "/api/v1/widgets/{widget_id}/keys/{kid}/revoke": {
        "parameters": [WIDGET_ID, _path_param("kid", "The key's `kid`.")],
        "post": _operation(
            "revokeKey",
            "Revoke a signing key (idempotent)",
            {"200": _ok("The revoked key.", "Key")},
            tag="keys",
            body_required=False,
            description="No body is needed; a body, if sent, must be JSON.",
        ),
    },
    "/api/v1/widgets/{widget_id}/jwks.json": {
        "parameters": [WIDGET_ID],
        "get": _operation(
            "getWidgetJwks",
            "The widget's active keys as a JWK set",
            {"200": _ok('Public JWKs with `kid`, `alg` and `use: "sig"`.', "JWKSet")},
            tag="keys",
        ),
    },
    "/api/v1/widgets/{widget_id}/verify": {
        "parameters": [WIDGET_ID],
        "post": _operation(
            "verify",
            "Verify interaction data",
            {"200": _ok("What may be trusted.", "VerifyResult"), "422": VERIFY_422, "503": VERIFY_503},
            tag="verification",
            body="VerifyRequest",
            body_required=False,
            description="An empty body is the same as `{}` (no token, no unsigned data).",
        ),
    },
    "/api/v1/widgets/{widget_id}/verify-batch": {
        "parameters": [WIDGET_ID],
        "post": _operation(
            "verifyBatch",
            "Verify 1 to 100 items in one call",
            {"200": _ok("One result per item, in order.", "VerifyBatchResult"), "503": VERIFY_503},
            tag="verification",
            body="VerifyBatchRequest",
            description="Each result is exactly what the single call would have answered; the whole call fails "
            "only for request-level problems (auth, shape, size).",
        ),
    },
    "/api/v1/widgets/{widget_id}/insights": {
        "parameters": [WIDGET_ID],
        "get": {
            **_operation(
                "getWidgetInsights",
                "Verification outcomes of a widget over a window",
                {
                    "200": _ok("Outcomes over time, top failures with their fix, key usage, labels seen.", "Insights"),
                    "400": _error("`window` is not one of `24h`, `7d`, `30d`.", ["invalid_request"]),
                },
                tag="verification",
            ),
            "parameters": [
                {
                    "name": "window",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["24h", "7d", "30d"], "default": "7d"},
                    "description": "How far back to look (buckets of 1 hour, 6 hours and 1 day).",
                }
            ],
        },
    },
    "/api/v1/encryption-keys": {
        "get": _operation(
            "listEncryptionKeys",
            "List the tenant's platform encryption keys",
            {"200": _ok("The tenant's encryption keys.", "EncryptionKeyList")},
            tag="encryption",
            not_found=False,
        ),
        "post": _operation(
            "createEncryptionKey",
            "Create a new platform encryption key pair (rotation)",
            {"201": _ok("The new key; its private half never leaves the server.", "EncryptionKey")},
            tag="encryption",
            body="EncryptionKeyCreate",
            body_required=False,
            not_found=False,
            description="No body is needed; a body, if sent, must be `{}`.",
        ),
    },
    "/api/v1/encryption-keys/{kid}/retire": {
        "parameters": [_path_param("kid", "The encryption key's `kid`.")],
        "post": _operation(
            "retireEncryptionKey",
            "Retire a platform encryption key (it no longer decrypts)",
            {"200": _ok("The retired key.", "EncryptionKey")},
            tag="encryption",
            body_required=False,
            description="No body is needed; a body, if sent, must be JSON.",
        ),
    },
    "/api/v1/sessions/redeem": {
        "post": _operation(
            "redeemSession",
            "Redeem a visitor-session token (once)",
            {
                "200": _ok("The verified visitor the session stands for.", "SessionRedeemed"),
                "409": _error("The session token was already redeemed.", ["session_used"]),
                "422": _error(
                    "The session token is not valid.", ["expired", "bad_signature", "malformed_token", "invalid_claim"]
                ),
            },
            tag="encryption",
            body="SessionRedeemRequest",
            not_found=False,
        ),
    },
    "/.well-known/jwks.json": {
        "get": {
            "operationId": "getSessionJwks",
            "summary": "The portal's session-signing public keys",
            "tags": ["encryption"],
            "security": [],
            "responses": {"200": _ok("Public JWKs that verify visitor-session tokens.", "JWKSet")},
        }
    },
    "/healthz": {
        "get": {
            "operationId": "healthz",
            "summary": "Liveness and database check",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": _ok('The database answers: `{"status": "ok", "database": "ok"}`.', "Health"),
                "503": _ok(
                    "The database does not answer: `status` `unavailable` with an `error` (`service_unavailable`).",
                    "Health",
                ),
            },
        }
    },
}

INFO_DESCRIPTION = f"""The service API of Signet: widgets, their signing keys and verification policy, and the
verification of what a website signs about its chat visitors.

- JSON in, JSON out, UTF-8. Timestamps are RFC 3339 strings in UTC.
- Authentication: `Authorization: Bearer sgn_...` (an API key of exactly one tenant).
- A widget or key of another tenant is answered like one that does not exist: `404 not_found`.
- Every response that is not 2xx has the body `{{"error": {{"code", "message", "field"?}}}}`, except the
  verify `422` body `{{"verified": false, "error": {{"code", "message"}}}}`.
- Any method not listed for a path is answered `405 method_not_allowed` with an `Allow` header; any body
  over the limit (default 64 KiB) `413 request_too_large`.

Request error codes:
{_code_list(REQUEST_ERROR_CODES)}

Verification error codes (verify `422`, `would_reject`, batch results):
{_code_list(VERIFICATION_ERROR_CODES)}
"""

DOCUMENT = {
    "openapi": OPENAPI_VERSION,
    "info": {"title": "Signet API", "version": "1", "description": INFO_DESCRIPTION},
    "servers": [{"url": "/"}],
    "tags": [
        {"name": "widgets", "description": "Widgets, their policy and unsigned-field allowlist."},
        {"name": "keys", "description": "Public signing keys of a widget."},
        {"name": "verification", "description": "Verifying interaction data."},
        {"name": "encryption", "description": "Platform encryption keys and visitor sessions."},
        {"name": "operations", "description": "Health and this document."},
    ],
    "security": [{"bearerAuth": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "sgn_<12-character prefix>_<secret>",
                "description": "An API key of one tenant, created with `manage.py create_api_key` or in the portal.",
            }
        },
        "schemas": SCHEMAS,
        "responses": RESPONSES,
    },
}

_BODY = json.dumps(DOCUMENT, ensure_ascii=False, separators=(",", ":")).encode()


@api_endpoint("GET", auth=False)
def openapi_json(request):
    response = JsonResponse({})
    response.content = _BODY
    response["Cache-Control"] = CACHE_CONTROL
    return response
