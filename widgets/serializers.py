"""JSON shapes of the API contract (Widget)."""

from datetime import UTC

from widgets.models import Widget

POLICY_FIELDS = (
    "enforcement",
    "leeway_seconds",
    "max_token_age_seconds",
    "require_exp",
    "max_lifetime_seconds",
    "required_claims",
    "expected_audience",
    "expected_issuer",
    "require_token",
    "encryption_required",
    "session_subject_claim",
    "allow_developer_test_keys",
)


def rfc3339(value) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def widget_json(widget: Widget, labels: list[str] | None = None) -> dict:
    if labels is None:
        labels = list(widget.unsigned_fields.order_by("label").values_list("label", flat=True))
    body = {
        "id": widget.public_id,
        "name": widget.name,
        "signed_required": widget.signed_required,
        "unsigned_fields": labels,
    }
    body.update({name: getattr(widget, name) for name in POLICY_FIELDS})
    body["created_at"] = rfc3339(widget.created_at)
    body["updated_at"] = rfc3339(widget.updated_at)
    return body
