"""Writes to signing keys: register, revoke, expire. Each in one transaction with its audit event.

Only public material is ever stored or logged: a refused paste (above all a
private key) leaves no row, no audit detail and no log line holding its text.
"""

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from keys.intake import KeyImportError, import_public_key
from keys.models import KeyStatus, SigningKey
from portal.errors import ServiceError
from portal.services import audit_record, has_control_characters
from widgets import config
from widgets.models import Widget

log = logging.getLogger("signet.keys")

MAX_EXPIRY = timedelta(days=36525)  # 100 years: beyond is a typo (or an overflow attempt)
KID_RE = re.compile(r"^[A-Za-z0-9._~:@+=\-]{1,200}$")


# RFC 3339 §5.6 date-time: a full date and a full time, ASCII digits only. Its offset may be left out:
# API.md's times are in UTC, so a time without one is read as UTC (what datetime.utcnow().isoformat() gives).
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)([Zz]|[+-]\d{2}:\d{2})?", re.ASCII)


def _rfc3339(text: str) -> datetime:
    match = _RFC3339.fullmatch(text)
    problem = None
    if match is None:
        problem = "'expires_at' must be an RFC 3339 date and time, e.g. 2027-01-31T00:00:00Z."
    else:
        date, time, offset = match.groups()
        try:
            utc = offset is None or offset.upper() == "Z"
            return datetime.fromisoformat(f"{date}T{time}{'+00:00' if utc else offset}")
        except ValueError:
            problem = f"'expires_at' is not a real time ({text[:40]})."
    raise ServiceError("invalid_request", problem, field="expires_at")


def parse_expiry(value: Any) -> datetime | None:
    """RFC 3339 text (or a datetime) in the future, or None."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = _rfc3339(value.strip())
    else:
        raise ServiceError("invalid_request", "'expires_at' must be an RFC 3339 string.", field="expires_at")
    try:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, UTC)
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ServiceError("invalid_request", "'expires_at' is out of range.", field="expires_at") from None
    if moment > timezone.now() + MAX_EXPIRY:
        raise ServiceError(
            "invalid_request", "'expires_at' is more than 100 years away; check the year.", field="expires_at"
        )
    if moment <= timezone.now():
        raise ServiceError(
            "invalid_request", "'expires_at' is in the past; give a future time or none.", field="expires_at"
        )
    return moment


def signing_key_register(
    *,
    widget: Widget,
    public_key: Any,
    kid: Any = None,
    name: Any = "",
    expires_at: Any = None,
    is_test: bool = False,
    actor=None,
) -> tuple[SigningKey, tuple[str, ...]]:
    """Parse, check and store a public key; return it with any warnings (e.g. certificate expiry)."""
    if public_key is None:
        raise ServiceError(
            "invalid_request", "'public_key' is required: PEM text, a JWK object or JWK JSON text.", field="public_key"
        )
    if not isinstance(public_key, (str, dict)):
        raise ServiceError(
            "invalid_request", "'public_key' must be PEM text, a JWK object or JWK JSON text.", field="public_key"
        )
    try:
        imported = import_public_key(public_key)
    except KeyImportError as exc:
        if exc.code == "private_key_rejected":
            # Who and where only: the pasted text never reaches a log line.
            log.warning("private key refused for widget %s; nothing was stored", widget.public_id)
        raise ServiceError(exc.code, exc.message, field="public_key") from None
    facts = imported.facts

    if kid in (None, ""):
        if imported.kid_hint and not KID_RE.match(imported.kid_hint):
            raise ServiceError(
                "invalid_request",
                "The JWK's own 'kid' cannot be used: a kid must be 1 to 200 characters from A-Z a-z 0-9 "
                "and . _ ~ : @ + = - . Send a 'kid' with the key, or fix the JWK's kid.",
                field="kid",
            )
        kid = imported.kid_hint or facts.jwk_thumbprint
    if not isinstance(kid, str) or not KID_RE.match(kid):
        raise ServiceError(
            "invalid_request",
            "'kid' must be 1 to 200 characters from A-Z a-z 0-9 and . _ ~ : @ + = -",
            field="kid",
        )
    if name is None:
        name = ""
    if not isinstance(name, str) or len(name.strip()) > 120:
        raise ServiceError("invalid_request", "'name' must be a string of at most 120 characters.", field="name")
    if has_control_characters(name.strip()):
        raise ServiceError("invalid_request", "'name' must not contain control characters.", field="name")
    expiry = parse_expiry(expires_at)
    if imported.certificate_not_after and (expiry is None or expiry > imported.certificate_not_after):
        # A certificate's key stops verifying when the certificate does.
        expiry = imported.certificate_not_after if imported.certificate_not_after > timezone.now() else expiry

    _refuse_clash(widget=widget, fingerprint=facts.fingerprint_sha256, kid=kid)
    try:
        with transaction.atomic():
            key = SigningKey.objects.create(
                widget=widget,
                kid=kid,
                name=name.strip(),
                public_key_pem=facts.spki_pem,
                key_type=facts.key_type,
                curve=facts.curve or "",
                bits=facts.bits,
                algorithms=list(facts.algorithms),
                fingerprint_sha256=facts.fingerprint_sha256,
                jwk_thumbprint=facts.jwk_thumbprint,
                source_format=imported.source_format,
                certificate_not_after=imported.certificate_not_after,
                is_test=is_test,
                expires_at=expiry,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
            audit_record(
                tenant=widget.tenant,
                actor=actor,
                action="key.added",
                target=f"{widget.public_id}/{kid}",
                details={
                    "fingerprint": facts.fingerprint_sha256,
                    "type": facts.key_type,
                    "curve": facts.curve,
                    "bits": facts.bits,
                    "test": is_test,
                },
            )  # the new row's post_save (widgets/signals.py) invalidates the snapshots
    except IntegrityError:
        # Lost a race with a concurrent registration: the unique constraints decided.
        key = None
    if key is None:
        # Say which one, outside the except block so no database error is chained to the refusal.
        _refuse_clash(widget=widget, fingerprint=facts.fingerprint_sha256, kid=kid)
        raise ServiceError(
            "duplicate_key", "This key or kid was registered on this widget a moment ago.", field="public_key"
        )
    return key, imported.warnings


def _refuse_clash(*, widget: Widget, fingerprint: str, kid: str) -> None:
    """duplicate_key when the widget already has this public key (any status) or this kid."""
    existing = SigningKey.objects.filter(widget=widget, fingerprint_sha256=fingerprint).only("kid", "status").first()
    if existing:
        if existing.status == KeyStatus.REVOKED:
            raise ServiceError(
                "duplicate_key",
                f"This public key was registered on this widget as '{existing.kid}' and revoked; a revoked key "
                "cannot come back. Make a new key pair and register its public key.",
                field="public_key",
            )
        raise ServiceError(
            "duplicate_key",
            f"This public key is already registered on this widget as '{existing.kid}'.",
            field="public_key",
        )
    if SigningKey.objects.filter(widget=widget, kid=kid).exists():
        raise ServiceError(
            "duplicate_key",
            f"The kid '{kid}' is already used by another key on this widget; choose another kid.",
            field="kid",
        )


def signing_key_revoke(*, key: SigningKey, actor=None, reason: str = "") -> SigningKey:
    if key.status == KeyStatus.REVOKED:
        return key
    with transaction.atomic():
        key = SigningKey.objects.select_for_update().select_related("widget__tenant").get(pk=key.pk)
        if key.status == KeyStatus.REVOKED:
            return key
        key.status = KeyStatus.REVOKED
        key.revoked_at = timezone.now()
        key.save(update_fields=["status", "revoked_at"])  # widgets/signals.py invalidates the snapshots
        audit_record(
            tenant=key.widget.tenant,
            actor=actor,
            action="key.revoked",
            target=f"{key.widget.public_id}/{key.kid}",
            details={"fingerprint": key.fingerprint_sha256, "reason": reason[:200]},
        )
    return key


def signing_keys_expire(*, now: datetime | None = None) -> int:
    """Mark active keys past `expires_at` as expired (they already stop verifying at that moment)."""
    now = now or timezone.now()
    count = 0
    for key in SigningKey.objects.filter(status=KeyStatus.ACTIVE, expires_at__lte=now).select_related("widget__tenant"):
        with transaction.atomic():
            updated = SigningKey.objects.filter(pk=key.pk, status=KeyStatus.ACTIVE).update(status=KeyStatus.EXPIRED)
            if updated:
                count += 1
                config.widget_changed(key.widget_id)  # .update() sends no signal
                audit_record(
                    tenant=key.widget.tenant,
                    actor=None,
                    action="key.expired",
                    target=f"{key.widget.public_id}/{key.kid}",
                    details={"expires_at": key.expires_at.isoformat()},
                )
    return count
