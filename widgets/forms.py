"""Browser forms of the widget pages.

Forms only turn form text into Python values (a number, a date, a dict of
required claims); every rule about what is allowed lives in the services
(widgets.services, keys.services), which the JSON API shares. A ServiceError is
put back on the form with `attach_error`, next to the field it names.
"""

import json
import re
from datetime import UTC, datetime, time

from django import forms

from portal.errors import ServiceError
from widgets.models import CLAIM_TYPES, Enforcement, Widget
from widgets.serializers import POLICY_FIELDS

MAX_PASTE_CHARS = 20_000


def attach_error(
    form: forms.Form, exc: ServiceError, *, default_field: str | None = None, field_map: dict | None = None
) -> None:
    """Show a service refusal next to its field (or at the top of the form), in the form's own words.

    The services speak the API's field names ('leeway_seconds'); on a page the
    person sees labels, so the quoted API name is replaced by the field's label.
    """
    field = (field_map or {}).get(exc.field, exc.field)
    if field not in form.fields:
        field = default_field
    message = exc.message
    if field and exc.field:
        message = message.replace(f"'{exc.field}'", str(form.fields[field].label))
    form.add_error(field, message)


class AsciiIntegerField(forms.IntegerField):
    """An integer written with ASCII digits only: int() would also take '٣' (Arabic-Indic three)."""

    def to_python(self, value):
        if isinstance(value, str) and value.strip() and not re.fullmatch(r"-?[0-9]+", value.strip()):
            raise forms.ValidationError("Enter a whole number using the digits 0 to 9.", code="invalid")
        return super().to_python(value)


class WidgetCreateForm(forms.Form):
    name = forms.CharField(max_length=120, label="Widget name", help_text="For example: Website chat (production).")
    enforcement = forms.ChoiceField(
        choices=Enforcement.choices,
        initial=Enforcement.OFF,
        label="Start in mode",
        help_text="Off is safe while you set up keys; switch to Monitor, then Enforce, once your site signs.",
    )


def claims_to_text(claims: dict) -> str:
    return "\n".join(f"{name}: {kind}" for name, kind in (claims or {}).items())


def parse_required_claims(text: str) -> dict:
    """`name: type` per line (or a JSON object), into {name: type}. Types are checked by the service."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith(("{", "[")):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise forms.ValidationError('This is not valid JSON; write one "name: type" per line instead.') from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Write one "name: type" per line, e.g. "email: string".')
        return value
    claims = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        name, sep, kind = line.partition(":")
        if not sep:
            parts = line.split()
            if len(parts) != 2:
                raise forms.ValidationError(
                    f'Line {number}: write "name: type", where type is one of {", ".join(CLAIM_TYPES)}.'
                )
            name, kind = parts
        name, kind = name.strip(), kind.strip().lower()
        if name in claims:
            raise forms.ValidationError(f"Line {number}: the claim '{name}' is listed twice.")
        claims[name] = kind
    return claims


class WidgetSettingsForm(forms.Form):
    """Every writable policy field of a widget; the service validates the values."""

    name = forms.CharField(max_length=200, label="Name")
    enforcement = forms.ChoiceField(
        choices=Enforcement.choices,
        widget=forms.RadioSelect,
        label="Signed data",
        help_text="Enforce means signed data is required: only signed or allowlisted fields reach your agents.",
    )
    leeway_seconds = AsciiIntegerField(
        label="Clock leeway (seconds)", help_text="Tolerance for exp, nbf and iat between clocks. 0 to 600."
    )
    max_token_age_seconds = AsciiIntegerField(
        required=False,
        label="Maximum token age (seconds)",
        help_text="Refuse tokens whose iat is older than this. Empty: no limit.",
    )
    require_exp = forms.BooleanField(required=False, label="Require an exp claim")
    max_lifetime_seconds = AsciiIntegerField(
        required=False,
        label="Maximum lifetime (seconds)",
        help_text="Refuse tokens whose exp is further than this after iat. Empty: no limit.",
    )
    required_claims = forms.CharField(
        required=False,
        max_length=5000,
        label="Required claims",
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
        help_text=f"One per line as name: type, where type is one of {', '.join(CLAIM_TYPES)}.",
    )
    expected_audience = forms.CharField(
        required=False, max_length=400, label="Expected audience (aud)", help_text="Empty: aud is not checked."
    )
    expected_issuer = forms.CharField(
        required=False, max_length=400, label="Expected issuer (iss)", help_text="Empty: iss is not checked."
    )
    require_token = forms.BooleanField(
        required=False, label="Require a token on every verification (refuse calls without signed data)"
    )
    encryption_required = forms.BooleanField(
        required=False, label="Require encrypted interaction data (JWE); refuse plain signed tokens"
    )
    session_subject_claim = forms.CharField(
        max_length=200,
        label="Session subject claim",
        help_text="The claim that identifies the visitor in visitor-session tokens, usually sub.",
    )
    allow_developer_test_keys = forms.BooleanField(
        required=False, label="Let developers register test keys on this widget"
    )

    field_order = ["name", *POLICY_FIELDS]  # the API's writable fields, in the API's order

    @classmethod
    def initial_for(cls, widget: Widget) -> dict:
        initial = {name: getattr(widget, name) for name in cls.base_fields}
        initial["required_claims"] = claims_to_text(widget.required_claims)
        return initial

    def clean_required_claims(self):
        return parse_required_claims(self.cleaned_data.get("required_claims", ""))

    def changes(self) -> dict:
        """What to hand to widgets.services.widget_update."""
        return dict(self.cleaned_data)


class SigningKeyForm(forms.Form):
    public_key = forms.CharField(
        label="Public key",
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 7,
                "class": "mono",
                "spellcheck": "false",
                "autocomplete": "off",
                "autocapitalize": "off",
                "placeholder": "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----",
            }
        ),
        help_text="PEM (BEGIN PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE) or a JWK. Never paste a private key.",
    )
    kid = forms.CharField(
        required=False,
        max_length=400,
        label="Key ID (kid)",
        widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false", "autocomplete": "off"}),
        help_text="The kid your back end puts in the JWS header. Empty: the key's RFC 7638 thumbprint.",
    )
    name = forms.CharField(required=False, max_length=400, label="Name", help_text="For you, e.g. web-2025-q3.")
    expires_on = forms.DateField(
        required=False,
        label="Expires on (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional. The key stops verifying at 00:00 UTC on this day.",
    )
    is_test = forms.BooleanField(
        required=False,
        label="Test key",
        help_text="Marks a key for development; it verifies like any other key.",
    )

    def __init__(self, *args, developer_only: bool = False, **kwargs):
        # The widget page holds several forms: ids must not collide (labels point at them).
        kwargs.setdefault("auto_id", "key_%s")
        super().__init__(*args, **kwargs)
        if developer_only:
            # Developers register test keys only; the view forces is_test.
            del self.fields["is_test"]

    def clean_public_key(self):
        value = self.cleaned_data["public_key"]
        if len(value) > MAX_PASTE_CHARS:
            raise forms.ValidationError("This is too long to be a public key.")
        return value

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        return datetime.combine(day, time.min, tzinfo=UTC) if day else None


class KeyRevokeForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=200,
        label="Reason",
        help_text="Kept in the audit log. For example: rotated to web-2025-q3, or: private key exposed.",
    )


class UnsignedFieldForm(forms.Form):
    label = forms.CharField(
        max_length=400,
        label="Field label",
        widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false", "autocomplete": "off"}),
        help_text="Exactly as the website sends it, e.g. page_url.",
    )
    note = forms.CharField(
        required=False, max_length=400, label="Note", help_text="Optional: why this field may arrive unsigned."
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "unsigned_%s")
        super().__init__(*args, **kwargs)
