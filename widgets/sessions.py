"""Visitor sessions: after a verified visitor, a short-lived single-use token signed by the portal.

`session_issue` runs inside the verification use-case (widgets/verification.py)
once a token verified; `session_redeem` answers POST /api/v1/sessions/redeem.
A session stands for the visitor of one widget (`aud`) named by the claim the
widget chose (`Widget.session_subject_claim`, default `sub`), and carries the
signed fields only. Redemption is one conditional UPDATE (`... WHERE
redeemed_at IS NULL`): of any number of concurrent redemptions exactly one wins,
on SQLite and PostgreSQL alike.

A session token of another tenant's widget is answered exactly like a forged
one (422 bad_signature): the answer reveals nothing about other tenants.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from keys import engine, platform
from portal.errors import ServiceError
from widgets.models import VisitorSession
from widgets.serializers import rfc3339

MAX_SUBJECT_CHARS = 255


def visitor_id(verified: engine.VerifiedToken, claim: str) -> str:
    """The visitor's identifier from the claim the widget names; missing_claim when absent or unusable."""
    value = None
    if verified.payload_format == "claims" and isinstance(verified.payload, dict):
        value = verified.payload.get(claim)
    else:
        for entry in verified.fields:
            if entry.get("label") == claim:
                value = entry.get("data")
                break
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_SUBJECT_CHARS:
        raise engine.VerificationError(
            "missing_claim",
            f"Issuing a session needs the visitor's identifier in the signed claim '{claim}' "
            f"(a non-empty string of at most {MAX_SUBJECT_CHARS} characters); this token has none.",
        )
    return value


def _holds_nul(value) -> bool:
    """Whether a NUL is in any string of decoded JSON (its depth is bounded by the engine)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def check_storable(verified: engine.VerifiedToken) -> None:
    """A session keeps the visitor's id and signed fields in the database; PostgreSQL text and jsonb cannot
    hold NUL (it was a DataError, answered as if the database were down)."""
    if _holds_nul(verified.payload):
        raise engine.VerificationError(
            "invalid_payload",
            "Issuing a session stores the signed data, and it holds a NUL character (\\u0000), which cannot be "
            "stored; remove it from the signed data, or verify without issue_session.",
        )


def session_issue(*, snapshot, verified: engine.VerifiedToken, fields: list[dict], now: float) -> dict:
    """Store a VisitorSession and return {"token", "expires_at"} for the verify body."""
    sub = visitor_id(verified, snapshot.session_subject_claim)
    issued_at = int(now)
    expires = issued_at + settings.SIGNET["SESSION_TOKEN_SECONDS"]
    jti = secrets.token_urlsafe(24)
    token = platform.session_signer().sign(
        {
            "iss": settings.SIGNET["PORTAL_ISSUER"],
            "aud": snapshot.public_id,
            "sub": sub,
            "jti": jti,
            "iat": issued_at,
            "exp": expires,
        }
    )
    expires_at = datetime.fromtimestamp(expires, tz=UTC)
    VisitorSession.objects.create(
        widget_id=snapshot.pk,
        jti=jti,
        sub=sub,
        fields=[{"label": f["label"], "data": f["data"], "type": f["type"]} for f in fields],
        expires_at=expires_at,
    )
    return {"token": token, "expires_at": rfc3339(expires_at)}


def _refuse(code: str, message: str, status: int = 422):
    return ServiceError(code, message, status=status)


def session_redeem(*, tenant, token, now: datetime | None = None) -> dict:
    """Redeem a session token of this tenant once: {"widget", "sub", "fields"}; ServiceError otherwise."""
    if not isinstance(token, str) or not token.strip():
        raise ServiceError("invalid_request", "'token' must be the session token (a string).", field="token")
    now = now or timezone.now()
    try:
        claims = platform.session_token_claims(token.strip(), max_bytes=settings.SIGNET["TOKEN_MAX_BYTES"])
    except engine.VerificationError as exc:
        raise _refuse(exc.code, exc.message) from None
    jti = claims.get("jti")
    session = None
    if isinstance(jti, str) and jti:
        session = VisitorSession.objects.select_related("widget").filter(jti=jti, widget__tenant_id=tenant.id).first()
    if session is None or session.widget.public_id != claims.get("aud") or session.sub != claims.get("sub"):
        raise _refuse("bad_signature", "This session token was not signed by this portal for this tenant.")
    exp = claims.get("exp")
    if session.expires_at <= now or not isinstance(exp, (int, float)) or exp <= now.timestamp():
        raise _refuse("expired", "This session token has expired; verify the visitor again to get a new one.")
    won = VisitorSession.objects.filter(pk=session.pk, redeemed_at__isnull=True, expires_at__gt=now).update(
        redeemed_at=now
    )
    if not won:
        raise _refuse("session_used", "This session token was already redeemed; each one is accepted once.", 409)
    return {"widget": session.widget.public_id, "sub": session.sub, "fields": session.fields}
