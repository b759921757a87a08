"""The playground: verify, sign and decode tokens, and copy signing code, for one of the tenant's widgets.

One URL (/t/<slug>/playground/). GET shows a tab (`?tab=verify|sign|decode|snippets`,
`&widget=<public id>`); every form POSTs back here with a `mode`:

- verify: exactly the production path, `widgets.verification.verify_item` on the
  widget's snapshot, with `consume_jti=False` (the dry run: a jti is not used up);
- sign: a pasted private key signs in memory (keys.jose.sign_compact); browser-made
  test keys sign in static/js/playground.js and never reach the server;
- encrypt: a signed token encrypted to the tenant's platform key (keys.platform);
- register_test_key: the public half of a browser-made key, stored as a test key;
- decode: any token, no key, with warnings.

What it must never do: store, log, cache or send back a pasted private key (the
field is always re-rendered empty, the view hides it from error reports, and
every answer is `Cache-Control: no-store`); put a token in a URL; re-sign or
change a token it was given; consume a jti; record a verification outcome.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from keys import engine, intake, jose
from keys.selectors import signing_keys_of
from keys.services import signing_key_register
from portal.errors import ServiceError
from portal.models import Role
from portal.tenancy import tenant_view
from widgets import config, snippets, verification
from widgets.models import Enforcement, Widget
from widgets.selectors import widget_for, widgets_of

TABS = ("verify", "sign", "decode", "snippets")
MODES = ("verify", "sign", "encrypt", "decode", "register_test_key")
MAX_TOKEN_CHARS = 64 * 1024
MAX_JSON_CHARS = 64 * 1024
SESSION_WIDGET = "playground_widget"
TEST_KEY_NAME = "Test key (playground)"
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512")
DEFAULT_LIFETIME = 600

# What to do about each refusal, after the engine's own message (which says what failed).
FIXES = {
    "malformed_token": "Send the three base64url parts exactly as your signer produced them: no quotes, "
    "no spaces or line breaks inside, no padding (=).",
    "token_too_large": "Sign less: send identifiers and let the chat back end look up the rest.",
    "unsupported_algorithm": "Sign with the algorithm of the registered key: ES256 for a P-256 key, ES384 for "
    "P-384, ES512 for P-521, RS256 for RSA. HS256 and none are never accepted.",
    "unknown_key": "Put the kid of a key registered on this widget in the token header, or register your "
    "public key on the widget (in Sign, or on the widget page).",
    "revoked_key": "Sign with an active key: register a new key pair and switch your signer to it.",
    "bad_signature": "The token was not signed by the private half of the key that was tried. Check that your "
    "private key matches the registered public key (compare fingerprints), that nothing changed the token "
    "after signing, and, for ES256/384/512, that the signature is raw R‖S, not DER.",
    "expired": "Sign a fresh token for each chat start with exp a few minutes ahead, and keep the signing "
    "server's clock in sync (NTP).",
    "not_yet_valid": "The signing server's clock is ahead of Signet's: sync it (NTP), or do not set nbf.",
    "issued_in_future": "The signing server's clock is ahead of Signet's: sync it (NTP).",
    "lifetime_too_long": "Set exp closer to iat: a token only needs to live until the chat starts.",
    "invalid_claim": "Registered claims have fixed types: exp, nbf and iat are seconds since 1970 (not "
    "milliseconds), iss, sub and jti are strings.",
    "invalid_issuer": "Set iss to the issuer in this widget's settings, or change that setting.",
    "invalid_audience": "Set aud to the audience in this widget's settings, or change that setting.",
    "replayed": "Use a fresh jti (for example a UUID) for every token.",
    "missing_claim": "Add the claim this widget's policy requires (see the widget's settings).",
    "invalid_payload": "The payload must be a JSON array of {label, data, type} objects, or a JSON object of claims.",
    "signature_required": "This widget requires signed interaction data: send a token.",
    "decryption_failed": "Encrypt to this tenant's current encryption key (Encryption keys page) with "
    "RSA-OAEP-256 and A256GCM.",
    "encryption_required": "This widget accepts only encrypted tokens: encrypt the signed JWS to the tenant's key.",
}


# A private key pasted into the wrong box (token, unsigned data) is never sent back either.
_PRIVATE_HINT = re.compile(r'PRIVATE KEY|"d"\s*:|"(p|q|dp|dq|qi)"\s*:', re.IGNORECASE)
PRIVATE_IN_WRONG_BOX = (
    "This is private key material, not a token: it was not sent back to this page. "
    "If it is a production key, treat it as exposed and replace it."
)


def _private_material(text: str, *, payload: bool = False) -> bool:
    """Private key material in a box that is sent back: what keys.intake refuses as private (armour, a key's
    DER in base64 or hex, JWK private members), and JSON naming a private member anywhere.

    A payload to sign is JSON in which "d" or "p" is an ordinary claim name: there only armour counts.
    """
    if not text or not text.strip():
        return False
    if payload and text.lstrip()[:1] in ("{", "["):
        return "PRIVATE KEY" in text.upper()
    return bool(not payload and _PRIVATE_HINT.search(text)) or intake.holds_private_key(text)


# json.loads turns a "\ud800" escape into a lone surrogate, which UTF-8 (so the page) cannot carry.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _displayable(value: Any, what: str) -> tuple[Any, str | None]:
    """`value` (decoded JSON) with any lone UTF-16 surrogate replaced by U+FFFD, and a sentence saying so, or None."""
    text = json.dumps(value, ensure_ascii=False)
    match = _SURROGATE.search(text)
    if match is None:
        return value, None
    problem = f"{what} holds a lone UTF-16 surrogate (\\u{ord(match.group()):04x}), which is not valid Unicode"
    return json.loads(_SURROGATE.sub("\ufffd", text)), problem


# --- templates for the Sign tab ----------------------------------------------------------


def payload_template(kind: str, *, now: float | None = None, subject_claim: str = "sub") -> str:
    """A starting payload for one of the three integration formats, as pretty JSON text."""
    now = int(time.time() if now is None else now)
    if kind == "claims":
        value = {
            "name": "Jane Doe",
            "isLoggedIn": True,
            "email": "jane@example.com",
            "iat": now,
            "exp": now + DEFAULT_LIFETIME,
            "jti": _new_jti(),
        }
    elif kind == "encrypted":
        value = {
            subject_claim or "sub": "customer-124",
            "name": "Jane Doe",
            "isLoggedIn": True,
            "email": "jane@example.com",
            "iat": now,
            "exp": now + DEFAULT_LIFETIME,
            "jti": _new_jti(),
        }
    else:
        value = [
            {"label": "name", "data": "Jane Doe", "type": "string"},
            {"label": "customer_id", "data": 124, "type": "number"},
            {"label": "logged_in", "data": True, "type": "boolean"},
        ]
    return json.dumps(value, indent=2, ensure_ascii=False)


def _new_jti() -> str:
    import uuid

    return str(uuid.uuid4())


def apply_helper(payload_text: str, helper: str, *, now: float | None = None) -> tuple[str, str | None]:
    """Set iat/exp/jti in a claims object: (new text, None) or (unchanged text, why not)."""
    try:
        value = json.loads(payload_text)
    except (ValueError, RecursionError):
        return payload_text, "The payload is not valid JSON yet; fix it first."
    if not isinstance(value, dict):
        return payload_text, "A fields array has no iat, exp or jti; load the claims template to use them."
    _, problem = _displayable(value, "The payload")
    if problem:
        return payload_text, f"{problem}: write the character itself, or remove it."
    now = int(time.time() if now is None else now)
    if helper == "set-iat":
        value["iat"] = now
    elif helper == "set-exp":
        value["exp"] = now + DEFAULT_LIFETIME
    elif helper == "set-jti":
        value["jti"] = _new_jti()
    return json.dumps(value, indent=2, ensure_ascii=False), None


# --- reading tokens (display only: verification is verify_item's job) --------------------


def _b64_lenient(part: str) -> bytes:
    part = "".join(part.split()).replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def lenient_decode(token: str) -> dict | None:
    """Best-effort header/payload of a token the strict parser refused, to help find what is wrong."""
    parts = token.strip().split(".")
    if len(parts) < 2:
        return None
    out = {}
    for name, part in (("header", parts[0]), ("payload", parts[1])):
        try:
            out[name] = json.loads(_b64_lenient(part).decode("utf-8"))
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            out[name] = None
    if out["header"] is None and out["payload"] is None:
        return None
    return out


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def human_duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{round(seconds / 86400)} days"


def _utc(value: float) -> str:
    try:
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return "out of range"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seconds(value: Any) -> float | None:
    """A time claim as a float, or None when it is no finite number (NaN, Infinity, 1e400, a 400-digit integer)."""
    if not _is_number(value):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def claim_rows(payload: Any, policy: engine.Policy, now: float, *, dry_run: bool = False) -> list[dict]:
    """Rows for the claims table: {name, value, when, note, tone} with times told in words."""
    if not isinstance(payload, dict):
        return []
    leeway = policy.leeway_seconds
    rows = []
    for name in engine.REGISTERED_CLAIMS:
        if name not in payload:
            continue
        value = payload[name]
        row = {"name": name, "value": json.dumps(value, ensure_ascii=False), "when": "", "note": "", "tone": ""}
        if name in ("exp", "nbf", "iat"):
            seconds = _seconds(value)
            if not _is_number(value):
                row.update(note="Not a number of seconds since 1970: refused (invalid_claim).", tone="bad")
            elif seconds is None:
                row.update(note=f"{name} is not a finite number (NaN, Infinity or far too large): refused.", tone="bad")
            elif seconds >= 1e11:
                row.update(note="This looks like milliseconds: JWT times are seconds. Divide by 1000.", tone="bad")
            else:
                row["when"] = _utc(seconds)
                row.update(_time_note(name, seconds - now, leeway, policy))
        elif name == "jti":
            row["note"] = (
                "Not consumed: this was a dry run, so the token still works once in production."
                if dry_run
                else "Accepted once per widget; a second use is refused (replayed)."
            )
        elif name == "aud" and policy.expected_audience:
            audiences = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            ok = policy.expected_audience in audiences
            row.update(note=f"This widget expects '{policy.expected_audience}'.", tone="ok" if ok else "bad")
        elif name == "iss" and policy.expected_issuer:
            ok = value == policy.expected_issuer
            row.update(note=f"This widget expects '{policy.expected_issuer}'.", tone="ok" if ok else "bad")
        rows.append(row)
    exp, iat = _seconds(payload.get("exp")), _seconds(payload.get("iat"))
    if exp is not None and iat is not None and exp < 1e11 and iat < 1e11:
        lifetime = exp - iat
        row = {"name": "lifetime", "value": f"{int(lifetime)} s", "when": "", "tone": "", "note": ""}
        row["note"] = f"Valid for {human_duration(lifetime)} (exp − iat)."
        limit = policy.max_lifetime_seconds
        if limit is not None and lifetime > limit:
            row.update(tone="bad", note=row["note"] + f" This widget accepts at most {human_duration(limit)}.")
        elif lifetime <= 0:
            row.update(tone="bad", note="exp is not after iat: the token was never valid.")
        rows.append(row)
    return rows


def _time_note(name: str, delta: float, leeway: int, policy: engine.Policy) -> dict:
    """`delta` = claim − now, in seconds."""
    span = human_duration(delta)
    if name == "exp":
        if delta > 0:
            return {"note": f"Expires in {span}.", "tone": "ok"}
        if -delta <= leeway:
            return {"note": f"Expired {span} ago; still accepted within the {leeway} s leeway.", "tone": "warn"}
        return {"note": f"Expired {span} ago (leeway {leeway} s): refused.", "tone": "bad"}
    if name == "iat":
        if delta > leeway:
            return {
                "note": f"Issued {span} in the future: the signing server's clock is about {span} ahead of "
                f"Signet's, more than the {leeway} s leeway: refused.",
                "tone": "bad",
            }
        if delta > 1:
            return {
                "note": f"Issued {span} in the future: the signer's clock is about {span} ahead of Signet's "
                f"(within the {leeway} s leeway).",
                "tone": "warn",
            }
        age = -delta
        note = f"Issued {human_duration(age)} ago." if age >= 1 else "Issued just now."
        max_age = policy.max_token_age_seconds
        if max_age is not None and age > max_age + leeway:
            return {"note": note + f" This widget accepts tokens at most {human_duration(max_age)} old.", "tone": "bad"}
        return {"note": note, "tone": "ok"}
    # nbf
    if delta <= 0:
        return {"note": f"Valid since {span} ago.", "tone": "ok"}
    if delta <= leeway:
        return {"note": f"Valid in {span}; accepted now within the {leeway} s leeway.", "tone": "warn"}
    return {"note": f"Not valid for another {span}: refused (not_yet_valid).", "tone": "bad"}


EXPECTED_EC_SIGNATURE = {"ES256": 64, "ES384": 96, "ES512": 132}
KEY_HEADERS = ("jku", "x5u", "jwk", "x5c")


def token_findings(token: str, header: dict, payload: Any, *, keys: list, policy: engine.Policy | None) -> list[dict]:
    """Warnings about a decoded token: {level: "bad"|"warn"|"info", text}. Display only."""
    found = []

    def add(level: str, text: str) -> None:
        found.append({"level": level, "text": text})

    stripped = token.strip()
    if stripped != token:
        add("info", "White space around the token was ignored; the API ignores it too.")
    if any(ch.isspace() for ch in stripped):
        add("bad", "The token has spaces or line breaks inside: it was wrapped or split when copied. Refused.")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none" or alg.upper().startswith("HS"):
        add("bad", f"alg {json.dumps(alg)[:40]} is never accepted: sign with ES256 (EC P-256) or RS256 (RSA).")
    elif alg not in ALGORITHMS:
        add("bad", f"alg {alg[:20]} is not accepted here; Signet accepts {', '.join(ALGORITHMS)}.")
    active = [k for k in keys if k.effective_status == "active"]
    if policy is not None and isinstance(alg, str) and alg in ALGORITHMS and active:
        fitting = [k for k in active if alg in (k.algorithms or [])]
        if not fitting:
            have = sorted({a for k in active for a in (k.algorithms or [])})
            add("bad", f"alg {alg} fits none of this widget's active keys (they sign {', '.join(have)}).")
    kid = header.get("kid")
    if policy is not None:
        if kid is None:
            add("info", "No kid in the header: every active key of the widget that fits the alg is tried.")
        elif isinstance(kid, str):
            match = next((k for k in keys if k.kid == kid), None)
            if match is None:
                known = ", ".join(k.kid for k in keys[:5]) or "none yet"
                add("bad", f"kid '{kid[:64]}' is not registered on this widget (registered: {known}).")
            elif match.effective_status != "active":
                add("bad", f"kid '{kid[:64]}' is a {match.effective_status} key on this widget.")
        if not keys:
            add("bad", "This widget has no signing key yet: register the public key first.")
    for name in KEY_HEADERS:
        if name in header:
            add("info", f"The '{name}' header is ignored: keys come only from the widget, never from the token.")
    if "crit" in header:
        add("bad", "A 'crit' header names extensions Signet does not support: refused.")
    parts = stripped.split(".")
    if len(parts) == 3 and isinstance(alg, str) and alg in EXPECTED_EC_SIGNATURE:
        try:
            signature = _b64_lenient(parts[2])
        except (ValueError, binascii.Error):
            signature = b""
        expected = EXPECTED_EC_SIGNATURE[alg]
        if signature and len(signature) != expected:
            if jose.is_der_ecdsa_signature(signature):
                add(
                    "bad",
                    f"The signature is DER-encoded ({len(signature)} bytes), as openssl dgst, Java's "
                    f"SHA256withECDSA or PHP's openssl_sign produce. JWS needs raw R‖S ({expected} bytes): "
                    "convert it, or use a JOSE library (see Snippets).",
                )
            else:
                add("bad", f"The signature has {len(signature)} bytes; {alg} signatures have exactly {expected}.")
    if isinstance(payload, dict):
        if "exp" not in payload:
            add("warn", "No exp: this token never expires, so a leaked token works forever. Add exp (now + 10 min).")
        if "jti" not in payload:
            add("info", "No jti: the same token can be replayed until it expires. Add a fresh jti (a UUID).")
    elif isinstance(payload, list):
        add(
            "info",
            "A fields array carries no exp or jti: the token never expires and can be replayed. "
            "Prefer a claims object with exp and jti where you can.",
        )
    elif payload is not None:
        add("bad", "The payload is neither a JSON object of claims nor an array of fields: refused (invalid_payload).")
    return found


def describe_token(token: str, *, keys: list, policy: engine.Policy | None, now: float, dry_run: bool) -> dict:
    """Everything the page shows about a token without verifying it (header, payload, claims, findings)."""
    report: dict[str, Any] = {"encrypted": False, "jwe_header": None, "strict_error": None, "lenient": False}
    max_bytes = policy.max_token_bytes if policy else 16 * 1024
    header = payload = None
    try:
        decoded = engine.decode(token, max_bytes=max_bytes)
        header, payload = decoded.header, decoded.payload
    except engine.VerificationError as exc:
        report["strict_error"] = {"code": exc.code, "message": exc.message}
        loose = lenient_decode(token)
        if loose:
            header, payload = loose["header"], loose["payload"]
            report["lenient"] = True
    header, header_problem = _displayable(header, "The header")
    payload, payload_problem = _displayable(payload, "The payload")
    report["header"] = header
    report["payload"] = payload
    report["header_json"] = _pretty(header) if header is not None else ""
    report["payload_json"] = _pretty(payload) if payload is not None else ""
    report["format"] = "claims" if isinstance(payload, dict) else "fields" if isinstance(payload, list) else None
    report["claims"] = claim_rows(payload, policy or engine.Policy(), now, dry_run=dry_run)
    report["findings"] = token_findings(
        token, header if isinstance(header, dict) else {}, payload, keys=keys, policy=policy
    )
    for problem in (header_problem, payload_problem):
        if problem:
            report["findings"].insert(0, {"level": "bad", "text": f"{problem}: refused. It is shown here as \ufffd."})
    return report


VIEWER_NO_DECRYPT = (
    "This token is encrypted. Decrypting it shows the visitor's data, which needs the developer role or higher."
)


def _jwe_layer(request, token: str, *, keys: list, policy, now: float, dry_run: bool) -> dict | None:
    """For a five-part token: its protected header and, when this tenant can decrypt it, the inner JWS."""
    try:
        from keys import platform
    except ImportError:  # pragma: no cover - the encryption work is not installed
        return None
    if not jose.looks_like_jwe(token.strip()):
        return None
    layer: dict[str, Any] = {"header_json": "", "error": None, "inner": None, "header_note": ""}
    try:
        header, problem = _displayable(platform.describe_jwe(token.strip()), "The protected header")
    except engine.VerificationError as exc:
        layer["error"] = {"code": exc.code, "message": exc.message}
        return layer
    layer["header_json"] = _pretty(header)
    if problem:
        layer["header_note"] = f"{problem}; it is shown here as \ufffd."
    if not request.membership.has_role(Role.DEVELOPER):
        layer["error"] = {"code": "forbidden", "message": VIEWER_NO_DECRYPT}
        return layer
    try:
        inner = platform.decrypt_interaction_data(
            tenant_id=request.tenant.id, token=token.strip(), max_bytes=max(len(token) + 1, 16 * 1024)
        )
    except engine.VerificationError as exc:
        layer["error"] = {"code": exc.code, "message": exc.message}
        return layer
    layer["inner"] = describe_token(inner, keys=keys, policy=policy, now=now, dry_run=dry_run)
    layer["inner_token"] = inner
    return layer


# Refusals the engine makes only after the signature verified (keys/engine.py, steps 5 and later).
AFTER_SIGNATURE = frozenset(
    {
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "lifetime_too_long",
        "invalid_claim",
        "invalid_issuer",
        "invalid_audience",
        "missing_claim",
        "invalid_payload",
        "replayed",
    }
)


def _key_that_signed(snapshot, token: str, now: float) -> str | None:
    """The kid of the widget key whose signature check passes (display only, same VerifierKey code)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64_lenient(parts[0]))
        signature = _b64_lenient(parts[2])
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    for candidate in snapshot.candidates(now):
        if header.get("kid") not in (None, candidate.kid):
            continue
        if candidate.verifier.verify_signature(header["alg"], signing_input, signature):
            return candidate.kid
    return None


# --- the agent view ----------------------------------------------------------------------


def parse_unsigned_text(text: str) -> list:
    """The optional unsigned_data: the API's list of {label, data, type}, or a plain {label: value} object."""
    text = (text or "").strip()
    if not text:
        return []
    if len(text) > MAX_JSON_CHARS:
        raise ServiceError("invalid_request", "unsigned_data is too long for the playground.", field="unsigned_data")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ServiceError("invalid_request", "unsigned_data is nested too deeply.", field="unsigned_data") from None
    except json.JSONDecodeError as exc:
        raise ServiceError(
            "invalid_request",
            f"unsigned_data is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            field="unsigned_data",
        ) from None
    except ValueError:  # Python's limit of 4300 digits per integer
        raise ServiceError(
            "invalid_request",
            "unsigned_data holds a number with too many digits to read; send big numbers as strings.",
            field="unsigned_data",
        ) from None
    _, problem = _displayable(value, "unsigned_data")
    if problem:
        raise ServiceError(
            "invalid_request", f"{problem}: write the character itself, or remove it.", field="unsigned_data"
        )
    if isinstance(value, dict):
        return [{"label": k, "data": v, "type": engine.json_type(v)} for k, v in value.items()]
    return value


def agent_view(status: int, body: dict, unsigned: list, *, enforcement: str) -> dict:
    """What an agent would see: each field marked signed/unsigned, and the unsigned ones that were dropped."""
    if status != 200:
        return {"shown": [], "dropped": [], "refused": True}
    signed_labels = {f["label"] for f in body["fields"] if f["signed"]}
    rejected = set(body.get("rejected_unsigned") or [])
    shown = []
    for entry in body["fields"]:
        shown.append(
            {
                "label": entry["label"],
                "value": entry["data"] if isinstance(entry["data"], str) else json.dumps(entry["data"]),
                "type": entry["type"],
                "signed": entry["signed"],
                "enforce_would_drop": (not entry["signed"]) and entry["label"] in rejected,
            }
        )
    dropped = []
    passed = {(f["label"], f["signed"]) for f in body["fields"]}
    for entry in unsigned:
        label = entry["label"]
        if (label, False) in passed:
            continue
        reason = (
            "an unsigned field can never replace the signed field of the same label"
            if label in signed_labels
            else "not on the widget's unsigned-field allowlist"
        )
        dropped.append({"label": label, "reason": reason})
    return {"shown": shown, "dropped": dropped, "refused": False, "monitor": enforcement == Enforcement.MONITOR}


# --- the view ------------------------------------------------------------------------------


def _keys_of(widget: Widget | None) -> list:
    return list(signing_keys_of(widget=widget)) if widget else []


def _may_register(request, widget: Widget) -> bool:
    """Admins and owners; developers only where the widget allows developer test keys (as on the widget page)."""
    membership = request.membership
    return membership.has_role(Role.ADMIN) or (membership.has_role(Role.DEVELOPER) and widget.allow_developer_test_keys)


def _chosen_widget(request, widgets: list[Widget]) -> Widget | None:
    wanted = request.POST.get("widget") if request.method == "POST" else request.GET.get("widget")
    if wanted:
        return widget_for(tenant=request.tenant, public_id=wanted)
    remembered = request.session.get(SESSION_WIDGET)
    return next((w for w in widgets if w.public_id == remembered), widgets[0] if widgets else None)


def _has_encryption_key(tenant) -> bool:
    from keys.models import EncryptionKey, EncryptionKeyStatus

    return EncryptionKey.objects.filter(tenant=tenant, status=EncryptionKeyStatus.ACTIVE).exists()


@sensitive_post_parameters("private_key")
@never_cache
@tenant_view(Role.VIEWER)
def playground(request):
    widgets = list(widgets_of(tenant=request.tenant))
    widget = _chosen_widget(request, widgets)
    if widget is not None:
        request.session[SESSION_WIDGET] = widget.public_id
    ctx = {
        "widgets": widgets,
        "widget": widget,
        "tab": request.GET.get("tab") if request.GET.get("tab") in TABS else "verify",
        "now": time.time(),
    }
    status = 200
    if request.method == "POST":
        mode = request.POST.get("mode", "")
        if mode not in MODES:
            return HttpResponseBadRequest("Unknown playground mode.", content_type="text/plain")
        if mode != "decode" and widget is None:
            messages.error(request, "Create a widget first: the playground works against a widget's keys and policy.")
            status = 400
        elif mode == "verify":
            status = _verify(request, widget, ctx)
        elif mode == "sign":
            status = _sign(request, widget, ctx)
        elif mode == "encrypt":
            status = _encrypt(request, widget, ctx)
        elif mode == "register_test_key":
            answer = _register_test_key(request, widget, ctx)
            if answer is not None:
                return answer
            status = ctx.pop("status", 200)
        else:
            status = _decode(request, widget, ctx)
    return _page(request, ctx, status=status)


def _page(request, ctx: dict, *, status: int = 200):
    widget = ctx["widget"]
    keys = ctx.get("keys")
    if keys is None:
        keys = _keys_of(widget)
    ctx["keys"] = keys
    ctx.setdefault("sign", {})
    ctx["sign"].setdefault("payload", payload_template("fields"))
    ctx["sign"].setdefault("alg", "")
    ctx["sign"].setdefault("kid", "")
    ctx["sign"].setdefault("key_source", "browser")
    ctx.setdefault("verify_form", {"token": "", "unsigned": ""})
    ctx.setdefault("decode_form", {"token": ""})
    fmt = request.GET.get("format") if request.GET.get("format") in snippets.FORMATS else "claims"
    ctx["snippet_format"] = fmt
    ctx["snippets"] = snippets.snippets_for(widget=widget, keys=keys, fmt=fmt, base_url=_base_url(request))
    ctx["can_register"] = bool(widget) and _may_register(request, widget)
    ctx["can_encrypt"] = _has_encryption_key(request.tenant)
    ctx["algorithms"] = ALGORITHMS
    ctx["server_time"] = _utc(ctx["now"])
    ctx["enforcement_label"] = Enforcement(widget.enforcement).label if widget else ""
    ctx["js_data"] = {
        "widget": widget.public_id if widget else None,
        "widgetName": widget.name if widget else None,
        "canRegister": ctx["can_register"],
        "tenant": request.tenant.slug,
        "keys": [
            {"kid": k.kid, "fingerprint": k.fingerprint_sha256, "status": k.effective_status, "test": k.is_test}
            for k in keys
        ],
        "templates": {
            kind: payload_template(
                kind, now=ctx["now"], subject_claim=widget.session_subject_claim if widget else "sub"
            )
            for kind in ("fields", "claims", "encrypted")
        },
        "lifetime": DEFAULT_LIFETIME,
    }
    response = render(request, "widgets/playground.html", ctx, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


# --- verify ----------------------------------------------------------------------------------


def _verify(request, widget: Widget, ctx: dict) -> int:
    ctx["tab"] = "verify"
    token_text = request.POST.get("token", "")[:MAX_TOKEN_CHARS]
    unsigned_text = request.POST.get("unsigned_data", "")[:MAX_JSON_CHARS]
    errors = {}
    private = {"token": _private_material(token_text), "unsigned": _private_material(unsigned_text)}
    if any(private.values()):
        ctx["verify_form"] = {
            "token": "" if private["token"] else token_text,
            "unsigned": "" if private["unsigned"] else unsigned_text,
        }
        ctx["verify_errors"] = {name: PRIVATE_IN_WRONG_BOX for name, found in private.items() if found}
        return 400
    ctx["verify_form"] = {"token": token_text, "unsigned": unsigned_text}
    try:
        unsigned = parse_unsigned_text(unsigned_text)
        # A box holding only white space is an empty box here (parse_item leaves that to the API's rules).
        item = verification.parse_item(
            {"signed_interaction_data": token_text if token_text.strip() else None, "unsigned_data": unsigned or None}
        )
    except ServiceError as exc:
        errors["unsigned" if (exc.field or "").startswith("unsigned") else "token"] = exc.message
        ctx["verify_errors"] = errors
        return 400
    if item.token is None and not item.unsigned:
        ctx["verify_errors"] = {"token": "Paste a token to verify (and, optionally, unsigned data)."}
        return 400

    snapshot = config.snapshot_for(tenant_id=request.tenant.id, public_id=widget.public_id)
    now = time.time()
    if item.token and jose.looks_like_jwe(item.token.strip()) and not request.membership.has_role(Role.DEVELOPER):
        # Encryption keeps visitor data confidential; read-only members see no decrypted claims.
        ctx["verify_errors"] = {"token": VIEWER_NO_DECRYPT}
        return 403
    try:
        status, body = verification.verify_item(snapshot, item, consume_jti=False, now=now)
    except ServiceError as exc:
        ctx["verify_errors"] = {"token": exc.message}
        return 400
    keys = _keys_of(widget)
    ctx["keys"] = keys
    result: dict[str, Any] = {"status": status, "body": body, "body_json": _pretty(body)}
    result["verified"] = status == 200 and body.get("verified") is True
    error = body.get("error") if status != 200 else body.get("would_reject")
    if error:
        result["error"] = error
        result["fix"] = FIXES.get(error["code"], "")
    result["would_reject"] = status == 200 and "would_reject" in body
    result["unsigned_only"] = item.token is None
    if body.get("kid"):
        result["key"] = next((k for k in keys if k.kid == body["kid"]), None)
    if item.token is not None:
        layer = _jwe_layer(request, item.token, keys=keys, policy=snapshot.policy, now=now, dry_run=True)
        result["jwe"] = layer
        if layer is None:
            result["report"] = describe_token(item.token, keys=keys, policy=snapshot.policy, now=now, dry_run=True)
        else:
            result["report"] = layer.get("inner")
        inner = item.token if layer is None else layer.get("inner_token")
        if error and error["code"] in AFTER_SIGNATURE and inner and "key" not in result:
            # Refused for its claims or payload: the signature itself was good. Say with which key.
            kid = _key_that_signed(snapshot, inner, now)
            result["key"] = next((k for k in keys if k.kid == kid), None)
            result["key_signature_only"] = result["key"] is not None
    result["agent"] = agent_view(status, body, item.unsigned, enforcement=snapshot.enforcement)
    ctx["result"] = result
    return 200


# --- sign and encrypt --------------------------------------------------------------------------


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{24,}")


def _safe_message(message: str, private_key: str) -> str:
    """Second guard: a message that might quote the pasted key is replaced by a fixed one."""
    body = "".join(private_key.split())
    if _BASE64_RUN.search(message) or any(chunk in message for chunk in _chunks(body)):
        return "This private key could not be read: copy the whole PEM key again, BEGIN and END lines included."
    return message


def _chunks(text: str, size: int = 16):
    return (text[i : i + size] for i in range(0, max(len(text) - size + 1, 0), size))


SIGNING_FAILED = (
    "Signing failed, for a reason Signet cannot show without quoting your key: nothing was signed. Check that "
    "this is a complete EC or RSA private key (PEM) and that the payload is plain JSON."
)


# All variables: Django's error report applies these names to every frame this calls, and keys.jose and
# cryptography hold the key under names of their own (private_key_pem, ...).
@sensitive_variables()
def _sign(request, widget: Widget, ctx: dict) -> int:
    ctx["tab"] = "sign"
    payload_text = request.POST.get("payload", "")[:MAX_JSON_CHARS]
    alg = request.POST.get("alg", "")
    kid = request.POST.get("kid", "").strip()
    encrypt = request.POST.get("encrypt") == "on"
    action = request.POST.get("action", "sign")
    # The private key stays in this local variable; it is never put into the context.
    private_key = request.POST.get("private_key", "")
    in_payload = _private_material(payload_text, payload=True)
    if in_payload or _private_material(kid):
        ctx["sign"] = {
            "payload": "" if in_payload else payload_text,
            "key_source": "paste",
            "key_cleared": bool(private_key.strip()),
        }
        box = "payload" if in_payload else "kid"
        ctx["sign_errors"] = {box: PRIVATE_IN_WRONG_BOX.replace("not a token", f"not a {box}")}
        return 400
    form = {"payload": payload_text, "alg": alg if alg in ALGORITHMS else "", "kid": kid, "encrypt": encrypt}
    form["key_source"] = "paste"
    ctx["sign"] = form
    ctx["sign_errors"] = errors = {}
    if private_key.strip() and action != "sign":
        form["key_cleared"] = True

    if action.startswith("template-"):
        kind = action.removeprefix("template-")
        form["payload"] = payload_template(kind, subject_claim=widget.session_subject_claim)
        return 200
    if action in ("set-iat", "set-exp", "set-jti"):
        form["payload"], problem = apply_helper(payload_text, action)
        if problem:
            errors["payload"] = problem
        return 200 if not problem else 400

    keys = _keys_of(widget)
    ctx["keys"] = keys
    try:
        facts = jose.public_facts_of_private_pem(private_key)
    except jose.SigningInputError as exc:
        errors[exc.field] = _safe_message(exc.message, private_key)
        form["key_cleared"] = bool(private_key.strip())
        return 400
    except Exception:  # noqa: BLE001 - a library error may quote the key: it must not reach a log or a report
        errors["private_key"] = SIGNING_FAILED
        form["key_cleared"] = bool(private_key.strip())
        return 400
    registered = next((k for k in keys if k.fingerprint_sha256 == facts.fingerprint_sha256), None)
    if not kid and registered is not None:
        kid = registered.kid
        form["kid_note"] = f"kid set to '{kid}', the key on this widget whose fingerprint matches your private key."
    try:
        signed = jose.sign_compact(payload_text, private_key, kid=kid or None, alg=alg or None)
    except jose.SigningInputError as exc:
        errors[exc.field] = _safe_message(exc.message, private_key)
        form["key_cleared"] = True
        return 400
    except Exception:  # noqa: BLE001 - as above
        errors["private_key"] = SIGNING_FAILED
        form["key_cleared"] = True
        return 400
    form["key_cleared"] = True
    result = {
        "token": signed.token,
        "alg": signed.alg,
        "header_json": _pretty(signed.header),
        "payload_json": _pretty(json.loads(signed.payload_text)),
        "notes": signed.notes,
        "fingerprint": facts.fingerprint_sha256,
        "registered": registered,
        "public_pem": facts.spki_pem if registered is None else "",
        "source": "server",
    }
    if registered is not None and kid and kid != registered.kid:
        result["kid_mismatch"] = registered.kid
    if encrypt:
        _encrypt_into(request, result)
    ctx["signed"] = result
    return 200


def _encrypt_into(request, result: dict) -> None:
    try:
        from keys import platform
        from keys.models import EncryptionKey
    except ImportError:  # pragma: no cover - the encryption work is not installed
        result["encrypt_error"] = "Encryption is not available on this server."
        return
    try:
        result["jwe"] = platform.encrypt_for_tenant(request.tenant, result["token"])
        result["jwe_header_json"] = _pretty(platform.describe_jwe(result["jwe"]))
    except EncryptionKey.DoesNotExist:
        result["encrypt_error"] = (
            "This tenant has no active encryption key yet; an admin creates one on the Encryption keys page."
        )


def _encrypt(request, widget: Widget, ctx: dict) -> int:
    """Encrypt a signed token (e.g. one signed in the browser) to this tenant's key: nothing is re-signed."""
    ctx["tab"] = "sign"
    token = request.POST.get("token", "").strip()[:MAX_TOKEN_CHARS]
    payload_text = request.POST.get("payload", "")[:MAX_JSON_CHARS]
    if not payload_text.strip() or _private_material(payload_text, payload=True):
        payload_text = payload_template("fields")
    ctx["sign"] = {"payload": payload_text, "key_source": "browser", "encrypt": True}
    if _private_material(token):
        ctx["sign_errors"] = {"token": PRIVATE_IN_WRONG_BOX}
        return 400
    try:
        decoded = engine.decode(token, max_bytes=MAX_TOKEN_CHARS)
    except engine.VerificationError as exc:
        ctx["sign_errors"] = {"token": f"Only a signed compact JWS can be encrypted: {exc.message}"}
        return 400
    result = {
        "token": token,
        "alg": decoded.alg,
        "header_json": _pretty(decoded.header),
        "payload_json": _pretty(decoded.payload),
        "source": "encrypt",
    }
    _encrypt_into(request, result)
    ctx["signed"] = result
    return 200 if "jwe" in result else 400


def _register_test_key(request, widget: Widget, ctx: dict):
    """Store the public half of a browser-made key pair as a test key (JSON for the page's script)."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    if not _may_register(request, widget):
        if wants_json:
            return JsonResponse(
                {"error": {"code": "forbidden", "message": "Registering keys needs the Admin role on this widget."}},
                status=403,
            )
        raise PermissionDenied("Registering keys needs the Admin role, or a widget that allows developer test keys.")
    public_pem = request.POST.get("public_key", "")
    ctx["tab"] = "sign"
    try:
        if "PRIVATE" in public_pem.upper():
            raise ServiceError(
                "private_key_rejected", "That was private key material: only the public half is registered."
            )
        key, _warnings = signing_key_register(
            widget=widget, public_key=public_pem, kid=None, name=TEST_KEY_NAME, is_test=True, actor=request.user
        )
    except ServiceError as exc:
        if wants_json:
            response = JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=400)
            response["Cache-Control"] = "no-store"
            return response
        messages.error(request, exc.message)
        ctx["status"] = 400
        return None
    detail_url = reverse("widgets:detail", kwargs={"tenant_slug": request.tenant.slug, "widget_id": widget.public_id})
    if wants_json:
        response = JsonResponse(
            {
                "kid": key.kid,
                "fingerprint": key.fingerprint_sha256,
                "name": key.name,
                "is_test": key.is_test,
                "widget": widget.public_id,
                "widget_url": f"{detail_url}#key-{key.pk}",
            },
            status=201,
        )
        response["Cache-Control"] = "no-store"
        return response
    messages.success(request, f"Test key '{key.kid}' registered on {widget.name}.")
    return None


# --- decode ---------------------------------------------------------------------------------


def _decode(request, widget: Widget | None, ctx: dict) -> int:
    ctx["tab"] = "decode"
    token = request.POST.get("token", "")[:MAX_TOKEN_CHARS]
    if _private_material(token):
        ctx["decode_form"] = {"token": ""}
        ctx["decode_errors"] = {"token": PRIVATE_IN_WRONG_BOX}
        return 400
    ctx["decode_form"] = {"token": token}
    if not token.strip():
        ctx["decode_errors"] = {"token": "Paste a token to decode."}
        return 400
    keys = _keys_of(widget)
    ctx["keys"] = keys
    policy = None
    if widget is not None:
        policy = config.snapshot_for(tenant_id=request.tenant.id, public_id=widget.public_id).policy
    now = time.time()
    layer = _jwe_layer(request, token, keys=keys, policy=policy, now=now, dry_run=False)
    if layer is not None:
        ctx["decoded"] = {"jwe": layer, "report": layer.get("inner")}
    else:
        ctx["decoded"] = {
            "jwe": None,
            "report": describe_token(token, keys=keys, policy=policy, now=now, dry_run=False),
        }
    return 200
