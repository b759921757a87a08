"""The verification use-case: what the chat back end sent -> which fields are trustworthy.

Flow for one item: validate the body's shape -> (decrypt a JWE, issue 7) ->
verify the JWS with keys/engine.py against the widget's snapshot -> consume
the `jti` (replay) -> apply enforcement and the unsigned-field allowlist ->
build the contract's 200 body, or a 422 with the engine's code. The API,
the batch API, `manage.py verify_token` and the playground all go through
`verify_item_with_drops`, so they can never answer differently. The batch API
first runs `check_tokens` (one `engine.verify_many` over its plain tokens, so
the signatures are checked back to back) and hands each item its result.
"""

from __future__ import annotations

import re
import time
from typing import Any, NamedTuple

from django.conf import settings
from django.utils import timezone

from keys import engine, platform
from keys.models import SigningKey
from portal import sharedcache
from portal.errors import ServiceError
from widgets import replay, sessions
from widgets.config import WidgetSnapshot
from widgets.models import Enforcement

MAX_UNSIGNED_ITEMS = 100
MAX_LABEL_CHARS = 100
MAX_TYPE_CHARS = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
VERIFY_FIELDS = {"signed_interaction_data", "unsigned_data", "issue_session"}
_SIGNED = {"signed": True}  # merged into each signed field (`|` makes a new dict)


class VerifyItem(NamedTuple):  # immutable; one per verify body, twice as fast as a frozen dataclass
    token: str | None
    unsigned: list[dict] | tuple = ()
    issue_session: bool = False


def parse_item(body: Any, *, prefix: str = "") -> VerifyItem:
    """Check the shape of one verify body; ServiceError(invalid_request, field=...) otherwise."""
    if not isinstance(body, dict):
        raise ServiceError("invalid_request", "The body must be a JSON object.", field=prefix.rstrip(".") or "body")
    if not VERIFY_FIELDS.issuperset(body):
        unknown = sorted(set(body) - VERIFY_FIELDS)
        raise ServiceError("invalid_request", f"Unknown field '{unknown[0]}'.", field=prefix + unknown[0])
    token = body.get("signed_interaction_data")
    if token is not None and not isinstance(token, str):
        raise ServiceError(
            "invalid_request",
            "'signed_interaction_data' must be a string (a compact JWS).",
            field=prefix + "signed_interaction_data",
        )
    issue_session = body.get("issue_session", False)
    if not isinstance(issue_session, bool):
        raise ServiceError("invalid_request", "'issue_session' must be true or false.", field=prefix + "issue_session")
    raw = body.get("unsigned_data")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ServiceError(
            "invalid_request",
            "'unsigned_data' must be a list of {label, data, type} objects.",
            field=prefix + "unsigned_data",
        )
    if len(raw) > MAX_UNSIGNED_ITEMS:
        raise ServiceError(
            "invalid_request",
            f"'unsigned_data' holds at most {MAX_UNSIGNED_ITEMS} fields.",
            field=prefix + "unsigned_data",
        )
    unsigned, seen = [], set()
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str) or "data" not in entry:
            raise ServiceError(
                "invalid_request",
                "Each unsigned field is an object with 'label' (string), 'data' and 'type'.",
                field=f"{prefix}unsigned_data[{index}]",
            )
        label = entry["label"]
        data = entry["data"]
        kind = entry["type"] if "type" in entry else engine.json_type(data)
        if not label or len(label) > MAX_LABEL_CHARS:
            raise ServiceError(
                "invalid_request",
                f"A label is 1 to {MAX_LABEL_CHARS} characters.",
                field=f"{prefix}unsigned_data[{index}].label",
            )
        if not isinstance(kind, str) or not kind or len(kind) > MAX_TYPE_CHARS:
            raise ServiceError(
                "invalid_request",
                f"'type' is a string of 1 to {MAX_TYPE_CHARS} characters.",
                field=f"{prefix}unsigned_data[{index}].type",
            )
        for name, text in (("label", label), ("type", kind)):
            if _CONTROL.search(text):
                raise ServiceError(
                    "invalid_request",
                    f"A {name} must not contain control characters.",
                    field=f"{prefix}unsigned_data[{index}].{name}",
                )
        if label in seen:
            raise ServiceError(
                "invalid_request",
                f"The label '{label}' appears twice in unsigned_data.",
                field=f"{prefix}unsigned_data[{index}].label",
            )
        seen.add(label)
        unsigned.append({"label": label, "data": data, "type": kind})
    return VerifyItem(token=token, unsigned=unsigned, issue_session=issue_session)


def _rejection(code: str, message: str) -> tuple[int, dict]:
    return 422, {"verified": False, "error": {"code": code, "message": message}}


def _apply_unsigned(item: VerifyItem, *, signed_labels, allowlist: frozenset[str], enforce: bool):
    """-> (fields that pass, labels dropped by the rules, labels enforce would drop)."""
    passed, dropped, enforce_drops = [], [], []
    for entry in item.unsigned:
        label = entry["label"]
        if label in signed_labels:
            # Never let unsigned data replace or shadow a signed field.
            dropped.append(label)
            enforce_drops.append(label)
            continue
        if label not in allowlist:
            enforce_drops.append(label)
            if enforce:
                dropped.append(label)
                continue
        passed.append({**entry, "signed": False})
    return passed, dropped, enforce_drops


def _not_allowlisted(item: VerifyItem, snapshot: WidgetSnapshot) -> list[str]:
    """What `enforce` would drop from a refused item: nothing is signed, so the labels off the allowlist."""
    return _apply_unsigned(item, signed_labels=(), allowlist=snapshot.allowlist, enforce=False)[2]


def _mark_key_used(snapshot: WidgetSnapshot, kid: str) -> None:
    """last_used_at at most once a minute per key: no database write per verification."""
    pk = snapshot.key_pks.get(kid)
    if pk is not None and sharedcache.mark_once(f"key-used:{pk}", 60):
        SigningKey.objects.filter(pk=pk).update(last_used_at=timezone.now())


def verify_item(
    snapshot: WidgetSnapshot,
    item: VerifyItem,
    *,
    consume_jti: bool = True,
    now: float | None = None,
) -> tuple[int, dict]:
    """Answer one verify body: (200, body) or (422, {"verified": false, "error": ...}).

    `consume_jti=False` is the playground's dry run: everything else is identical.
    """
    status, body, _ = verify_item_with_drops(snapshot, item, consume_jti=consume_jti, now=now)
    return status, body


def verify_item_with_drops(
    snapshot: WidgetSnapshot,
    item: VerifyItem,
    *,
    consume_jti: bool = True,
    now: float | None = None,
    checked: engine.VerifiedToken | engine.VerificationError | None = None,
) -> tuple[int, dict, list[str]]:
    """`verify_item`, plus the unsigned labels `enforce` would drop whatever the mode (for the log).

    `checked`: what `check_tokens` found for this item's token (same snapshot, `now` and
    `consume_jti`), used instead of calling the engine again.
    """
    now = time.time() if now is None else now
    mode = snapshot.enforcement
    enforce = mode == Enforcement.ENFORCE
    would_reject = None
    verified = None
    token = item.token
    encrypted = token is not None and platform.is_encrypted(token)

    if token is None:
        if snapshot.require_token and mode != Enforcement.OFF:
            message = "This widget requires signed interaction data; send 'signed_interaction_data'."
            if enforce:
                return (*_rejection("signature_required", message), _not_allowlisted(item, snapshot))
            would_reject = {"code": "signature_required", "message": message}
    else:
        try:
            verified = _verify_token(
                snapshot,
                token,
                now=now,
                consume_jti=consume_jti,
                session_requested=item.issue_session,
                encrypted=encrypted,
                checked=checked,
            )
        except engine.VerificationError as exc:
            if mode != Enforcement.MONITOR:
                return (*_rejection(exc.code, exc.message), _not_allowlisted(item, snapshot))
            would_reject = {"code": exc.code, "message": exc.message}
        except replay.ReplayStoreUnavailable:
            raise ServiceError(
                "replay_store_unavailable",
                "The replay store is not answering, so tokens with a jti cannot be accepted now; retry shortly.",
                status=503,
            ) from None

    if verified is not None:
        signed_fields = [f | _SIGNED for f in verified.fields]
        signed_labels = {f["label"] for f in signed_fields} if item.unsigned else ()
    else:
        signed_fields, signed_labels = [], ()
    if item.unsigned:
        passed, dropped, enforce_drops = _apply_unsigned(
            item, signed_labels=signed_labels, allowlist=snapshot.allowlist, enforce=enforce
        )
    else:
        passed, dropped, enforce_drops = [], [], []
    body = {
        "verified": verified is not None,
        "kid": verified.kid if verified else None,
        "alg": verified.alg if verified else None,
        "fields": signed_fields + passed if passed else signed_fields,
        "claims": verified.claims if verified else None,
        "rejected_unsigned": enforce_drops if mode == Enforcement.MONITOR else dropped,
    }
    if would_reject is not None:
        body["would_reject"] = would_reject
    if verified is not None:
        if consume_jti:  # a dry run (playground, verify_token) is not a use of the key
            _mark_key_used(snapshot, verified.kid)
        if encrypted:  # decrypted from a compact JWE in _verify_token
            body["encrypted"] = True
    if item.issue_session:
        # A session stands for a verified visitor only; a dry run (playground) stores none.
        if verified is None:
            if token is not None and mode == Enforcement.MONITOR:
                # API.md: in monitor a failing token is not a 422. The 200 says why (would_reject), no session.
                return 200, body, enforce_drops
            reason = would_reject or {
                "code": "signature_required",
                "message": "Issuing a session needs signed interaction data that verifies.",
            }
            return (*_rejection(reason["code"], reason["message"]), enforce_drops)
        if consume_jti:
            body["session"] = sessions.session_issue(
                snapshot=snapshot, verified=verified, fields=signed_fields, now=now
            )
    return 200, body, enforce_drops


def _encryption_missing(snapshot: WidgetSnapshot, token: str) -> bool:
    return snapshot.encryption_required and token.count(".") == 2


def check_tokens(
    snapshot: WidgetSnapshot, items: list[VerifyItem], *, now: float, consume_jti: bool = True
) -> list[engine.VerifiedToken | engine.VerificationError | None]:
    """The engine's answer for each item's plain token (None: no token, or one the item's own path
    must handle first: encrypted, or refused for lack of encryption), for `verify_item_with_drops`.

    One `engine.verify_many` call: a batch's signatures are checked back to back. Replay, sessions,
    enforcement and the unsigned fields stay per item, in order, in `verify_item_with_drops`.
    """
    plain = [
        index
        for index, item in enumerate(items)
        if item.token is not None
        and not platform.is_encrypted(item.token)
        and not _encryption_missing(snapshot, item.token)
    ]
    found = engine.verify_many(
        [items[index].token for index in plain],
        keys=snapshot.candidates(now, allow_test=not consume_jti),
        policy=snapshot.policy,
        now=now,
    )
    checked: list = [None] * len(items)
    for index, result in zip(plain, found, strict=True):
        checked[index] = result
    return checked


def _verify_token(
    snapshot: WidgetSnapshot,
    token: str,
    *,
    now: float,
    consume_jti: bool,
    session_requested: bool = False,
    encrypted: bool = False,
    checked: engine.VerifiedToken | engine.VerificationError | None = None,
) -> engine.VerifiedToken:
    if encrypted:
        # Decrypt (RSA-OAEP-256 + A256GCM only, checked before any key is used),
        # then verify the inner JWS exactly like a plain token.
        token = platform.decrypt_interaction_data(
            tenant_id=snapshot.tenant_id, token=token, max_bytes=snapshot.policy.max_token_bytes
        )
    elif _encryption_missing(snapshot, token):
        raise engine.VerificationError(
            "encryption_required",
            "This widget requires encrypted interaction data: encrypt the signed JWS as a compact JWE "
            "(RSA-OAEP-256, A256GCM) to the key on the Encryption keys page.",
        )
    if checked is not None and not encrypted:  # check_tokens ran the engine on this very token
        if isinstance(checked, engine.VerificationError):
            raise engine.VerificationError(checked.code, checked.message, **checked.details)
        verified = checked
    else:
        verified = engine.verify(
            token, keys=snapshot.candidates(now, allow_test=not consume_jti), policy=snapshot.policy, now=now
        )
    if session_requested:
        # Before the jti is consumed: a token refused here can be sent again once fixed.
        sessions.visitor_id(verified, snapshot.session_subject_claim)
        sessions.check_storable(verified)
    jti = verified.jti
    if jti is not None and consume_jti:
        if verified.exp is not None:
            until = verified.exp + snapshot.policy.leeway_seconds
        else:
            until = now + settings.SIGNET["REPLAY_TTL_WITHOUT_EXP"]
        if not replay.consume(widget_pk=snapshot.pk, jti=str(jti), expires_at=until):
            raise engine.VerificationError(
                "replayed",
                f"The jti '{str(jti)[:64]}' was already accepted for this widget; sign each token with a fresh jti.",
            )
    return verified
