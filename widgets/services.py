"""Writes to widgets, their policy and their unsigned-field allowlist.

Both the JSON API and the browser forms call these; validation lives here so
the two can never disagree. Every change bumps the widget's config version
(cache invalidation for the verification path) and writes an audit event in
the same transaction.
"""

import re
from typing import Any

from django.db import IntegrityError, transaction

from portal.errors import ServiceError
from portal.services import audit_record
from widgets import config
from widgets.models import CLAIM_TYPES, Enforcement, UnsignedField, Widget

LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-:/@]{0,99}$")
MAX_UNSIGNED_FIELDS = 200
MAX_REQUIRED_CLAIMS = 50


def _int_or_none(name: str, value: Any, *, low: int, high: int, nullable: bool) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not (low <= value <= high):
        suffix = " or null" if nullable else ""
        raise ServiceError(
            "invalid_request", f"'{name}' must be a whole number from {low} to {high}{suffix}.", field=name
        )
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ServiceError("invalid_request", f"'{name}' must be true or false.", field=name)
    return value


def _text(name: str, value: Any, *, max_len: int, allow_blank: bool = True) -> str:
    if not isinstance(value, str):
        raise ServiceError("invalid_request", f"'{name}' must be a string.", field=name)
    value = value.strip()
    if not value and not allow_blank:
        raise ServiceError("invalid_request", f"'{name}' must not be empty.", field=name)
    if len(value) > max_len:
        raise ServiceError("invalid_request", f"'{name}' must be at most {max_len} characters.", field=name)
    if any(ord(c) < 32 for c in value):
        raise ServiceError("invalid_request", f"'{name}' must not contain control characters.", field=name)
    return value


def _enforcement(value: Any) -> str:
    if value not in Enforcement.values:
        raise ServiceError(
            "invalid_request", "'enforcement' must be one of off, monitor, enforce.", field="enforcement"
        )
    return value


def _claim_name(value: Any) -> str:
    if not isinstance(value, str) or not (1 <= len(value) <= 64) or any(ord(c) < 33 for c in value):
        raise ServiceError(
            "invalid_request", "Claim names must be 1 to 64 visible characters.", field="required_claims"
        )
    return value


def _required_claims(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ServiceError(
            "invalid_request",
            '\'required_claims\' must be an object of claim name to type, e.g. {"name": "string"}.',
            field="required_claims",
        )
    if len(value) > MAX_REQUIRED_CLAIMS:
        raise ServiceError(
            "invalid_request", f"At most {MAX_REQUIRED_CLAIMS} required claims.", field="required_claims"
        )
    out = {}
    for name, kind in value.items():
        if kind not in CLAIM_TYPES:
            raise ServiceError(
                "invalid_request",
                f"The type of claim '{_claim_name(name)}' must be one of {', '.join(CLAIM_TYPES)}.",
                field="required_claims",
            )
        out[_claim_name(name)] = kind
    return out


# name -> validator. These are the writable widget fields of the API.
VALIDATORS = {
    "name": lambda v: _text("name", v, max_len=120, allow_blank=False),
    "enforcement": lambda v: _enforcement(v),
    "signed_required": lambda v: _bool("signed_required", v),
    "leeway_seconds": lambda v: _int_or_none("leeway_seconds", v, low=0, high=600, nullable=False),
    "max_token_age_seconds": lambda v: _int_or_none("max_token_age_seconds", v, low=1, high=366 * 86400, nullable=True),
    "require_exp": lambda v: _bool("require_exp", v),
    "max_lifetime_seconds": lambda v: _int_or_none("max_lifetime_seconds", v, low=1, high=366 * 86400, nullable=True),
    "required_claims": _required_claims,
    "expected_audience": lambda v: _text("expected_audience", v, max_len=200),
    "expected_issuer": lambda v: _text("expected_issuer", v, max_len=200),
    "require_token": lambda v: _bool("require_token", v),
    "encryption_required": lambda v: _bool("encryption_required", v),
    "session_subject_claim": lambda v: _claim_name_field(v),
    "allow_developer_test_keys": lambda v: _bool("allow_developer_test_keys", v),
}


def _claim_name_field(value: Any) -> str:
    if not isinstance(value, str) or not (1 <= len(value) <= 64) or any(ord(c) < 33 for c in value):
        raise ServiceError(
            "invalid_request",
            "'session_subject_claim' must be 1 to 64 visible characters.",
            field="session_subject_claim",
        )
    return value


def clean_widget_changes(changes: dict) -> dict:
    """Validate a dict of writable fields; reconcile `enforcement` and `signed_required`."""
    cleaned = {}
    for name, value in changes.items():
        if name not in VALIDATORS:
            raise ServiceError("invalid_request", f"'{name}' is not a writable widget field.", field=name)
        cleaned[name] = VALIDATORS[name](value)
    if "signed_required" in cleaned:
        implied = Enforcement.ENFORCE if cleaned.pop("signed_required") else None
        if "enforcement" in cleaned:
            if (cleaned["enforcement"] == Enforcement.ENFORCE) != (implied == Enforcement.ENFORCE):
                raise ServiceError(
                    "invalid_request",
                    "'signed_required' is true exactly when 'enforcement' is 'enforce'; send one or make them agree.",
                    field="signed_required",
                )
        else:
            cleaned["_signed_required"] = implied
    return cleaned


def widget_create(*, tenant, name: Any, actor=None, changes: dict | None = None, **fields) -> Widget:
    """Create a widget; `changes` (API bodies) and `fields` (Python callers) are writable widget fields."""
    cleaned = clean_widget_changes({**(changes or {}), **fields, "name": name})
    widget = Widget(tenant=tenant)
    _apply(widget, cleaned)
    with transaction.atomic():
        widget.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="widget.created",
            target=widget.public_id,
            details={"name": widget.name, "enforcement": widget.enforcement},
        )
    return widget


def _apply(widget: Widget, cleaned: dict) -> dict:
    """Set the cleaned values; return {field: [old, new]} of what changed."""
    changed = {}
    signed = cleaned.pop("_signed_required", "unset")
    if signed != "unset":
        if signed == Enforcement.ENFORCE:
            cleaned["enforcement"] = Enforcement.ENFORCE
        elif widget.enforcement == Enforcement.ENFORCE:
            cleaned["enforcement"] = Enforcement.OFF
    for name, value in cleaned.items():
        old = getattr(widget, name)
        if old != value:
            changed[name] = [old, value]
            setattr(widget, name, value)
    return changed


def widget_update(*, widget: Widget, changes: dict, actor=None) -> Widget:
    cleaned = clean_widget_changes(changes)
    with transaction.atomic():
        widget = Widget.objects.select_for_update().get(pk=widget.pk)
        changed = _apply(widget, cleaned)
        if changed:
            widget.save()  # widgets/signals.py bumps the config version
            widget.refresh_from_db()
            action = "widget.enforcement_changed" if "enforcement" in changed else "widget.policy_changed"
            audit_record(tenant=widget.tenant, actor=actor, action=action, target=widget.public_id, details=changed)
    return widget


def _clean_label(label: Any, *, field: str = "fields") -> str:
    if not isinstance(label, str):
        raise ServiceError("invalid_request", "Each label must be a string.", field=field)
    label = label.strip()
    if not LABEL_RE.match(label):
        raise ServiceError(
            "invalid_request",
            "A label is 1 to 100 characters: letters, digits, space and _ . - : / @, starting with a letter or digit.",
            field=field,
        )
    return label


def unsigned_fields_set(*, widget: Widget, labels: Any, actor=None, field: str = "fields") -> list[str]:
    """Replace the allowlist with `labels` (the API's PUT); `field` names the input in errors."""
    if not isinstance(labels, list):
        raise ServiceError("invalid_request", f"'{field}' must be a list of labels.", field=field)
    if len(labels) > MAX_UNSIGNED_FIELDS:
        raise ServiceError("invalid_request", f"At most {MAX_UNSIGNED_FIELDS} labels.", field=field)
    wanted = []
    for label in labels:
        label = _clean_label(label, field=field)
        if label not in wanted:
            wanted.append(label)
    with transaction.atomic():
        Widget.objects.select_for_update().filter(pk=widget.pk).first()
        current = set(widget.unsigned_fields.values_list("label", flat=True))
        added, removed = sorted(set(wanted) - current), sorted(current - set(wanted))
        if removed:
            widget.unsigned_fields.filter(label__in=removed).delete()
        UnsignedField.objects.bulk_create([UnsignedField(widget=widget, label=label) for label in added])
        if added:  # bulk_create sends no signal (the deletes above did, through widgets/signals.py)
            config.widget_changed(widget.pk)
        if added or removed:
            audit_record(
                tenant=widget.tenant,
                actor=actor,
                action="allowlist.changed",
                target=widget.public_id,
                details={"added": added, "removed": removed},
            )
    return sorted(wanted)


def unsigned_field_add(*, widget: Widget, label: Any, note: str = "", actor=None) -> UnsignedField:
    label = _clean_label(label, field="label")
    note = _text("note", note or "", max_len=200)
    try:
        with transaction.atomic():
            field = UnsignedField.objects.create(widget=widget, label=label, note=note)
            audit_record(
                tenant=widget.tenant,
                actor=actor,
                action="allowlist.added",
                target=widget.public_id,
                details={"label": label},
            )
    except IntegrityError:
        raise ServiceError("duplicate", f"'{label}' is already on the allowlist.", field="label") from None
    return field


def unsigned_field_remove(*, widget: Widget, label: str, actor=None) -> None:
    with transaction.atomic():
        deleted, _ = widget.unsigned_fields.filter(label=label).delete()
        if deleted:
            audit_record(
                tenant=widget.tenant,
                actor=actor,
                action="allowlist.removed",
                target=widget.public_id,
                details={"label": label},
            )
