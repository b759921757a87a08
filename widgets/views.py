"""Portal pages of a tenant: dashboard, widget page (settings, keys, allowlist, embed).

Every view is wrapped in `portal.tenancy.tenant_view` (membership → 404, role →
403) and reaches widgets and keys only through the selectors, so another
tenant's widget is answered like a missing one. Changes go through the services
(the same ones the JSON API uses); a refusal is shown next to its field and
nothing is saved. The widget page is one page: forms that fail re-render it
with their errors (status 400), forms that succeed redirect back (POST/redirect/GET).
Verification figures (the enforce preview, key shares, the revoke confirmation's
numbers) come from widgets/insights.py, the same ones the insights page shows.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from keys import intake
from keys.models import KeyStatus, SigningKey
from keys.selectors import signing_key_for, signing_keys_of
from keys.services import signing_key_register, signing_key_revoke
from portal.errors import ServiceError
from portal.models import Role
from portal.tenancy import tenant_view
from widgets import insights, outcomes
from widgets.forms import (
    KeyRevokeForm,
    SigningKeyForm,
    UnsignedFieldForm,
    WidgetCreateForm,
    WidgetSettingsForm,
    attach_error,
)
from widgets.models import Widget
from widgets.selectors import widget_for, widgets_of
from widgets.services import unsigned_field_add, unsigned_field_remove, widget_create, widget_update

RECENT_USE = timedelta(hours=24)
# The dashboard warns this long before a key or its certificate expires.
EXPIRY_WARNING = timedelta(days=30)


# --- who may do what -----------------------------------------------------------


def _is_admin(request) -> bool:
    return request.membership.has_role(Role.ADMIN)


def _may_add_key(request, widget: Widget) -> bool:
    """Admins register any key; developers only test keys, and only where the widget allows it."""
    return _is_admin(request) or widget.allow_developer_test_keys


def _may_revoke_key(request, widget: Widget, key: SigningKey) -> bool:
    return _is_admin(request) or (widget.allow_developer_test_keys and key.is_test)


def _to_section(request, widget: Widget, anchor: str):
    url = reverse("widgets:detail", kwargs={"tenant_slug": request.tenant.slug, "widget_id": widget.public_id})
    return redirect(f"{url}#{anchor}")


# --- dashboard -------------------------------------------------------------------


def _expiry_warnings(tenant) -> list[dict]:
    """The tenant's active keys that expire within EXPIRY_WARNING, or whose certificate does (or did)."""
    now = timezone.now()
    soon = now + EXPIRY_WARNING
    keys = (
        SigningKey.objects.filter(widget__tenant=tenant, status=KeyStatus.ACTIVE)
        .filter(Q(expires_at__gt=now, expires_at__lte=soon) | Q(certificate_not_after__lte=soon))
        .select_related("widget")
        .order_by("widget__name", "kid")
    )
    warnings = []
    for key in keys:
        # A certificate's key expires with it (keys.services), so the certificate is the reason to show.
        from_certificate = key.certificate_not_after is not None and key.certificate_not_after <= soon
        when = key.certificate_not_after if from_certificate else key.expires_at
        warnings.append(
            {"key": key, "widget": key.widget, "certificate": from_certificate, "when": when, "past": when <= now}
        )
    warnings.sort(key=lambda w: w["when"])
    return warnings


def _dashboard_page(request, *, create_form=None, status=200):
    widgets = widgets_of(tenant=request.tenant).annotate(
        active_keys=Count("signing_keys", filter=Q(signing_keys__status=KeyStatus.ACTIVE), distinct=True),
        unsigned_count=Count("unsigned_fields", distinct=True),
    )
    context = {
        "widgets": widgets,
        "expiry_warnings": _expiry_warnings(request.tenant),
        "create_form": create_form or WidgetCreateForm(),
        "can_create": _is_admin(request),
    }
    return render(request, "widgets/dashboard.html", context, status=status)


@tenant_view(Role.VIEWER)
def dashboard(request):
    return _dashboard_page(request)


@tenant_view(Role.ADMIN)
def widget_create_view(request):
    if request.method != "POST":
        return redirect("widgets:dashboard", tenant_slug=request.tenant.slug)
    form = WidgetCreateForm(request.POST)
    if form.is_valid():
        try:
            widget = widget_create(
                tenant=request.tenant,
                name=form.cleaned_data["name"],
                enforcement=form.cleaned_data["enforcement"],
                actor=request.user,
            )
        except ServiceError as exc:
            attach_error(form, exc, default_field="name")
        else:
            messages.success(
                request, f"Widget '{widget.name}' created. Next: register the public key your back end signs with."
            )
            return _to_section(request, widget, "keys")
    return _dashboard_page(request, create_form=form, status=400)


# --- the widget page ---------------------------------------------------------------


def _breakable(fingerprint: str) -> list[str]:
    """Fingerprint pieces of 8 hex digits: the page may wrap a line only between them (<wbr>, copied whole)."""
    return [fingerprint[i : i + 8] for i in range(0, len(fingerprint), 8)]


def _keys_with_status(widget: Widget) -> list[SigningKey]:
    now = timezone.now()
    keys = list(signing_keys_of(widget=widget))
    for key in keys:
        key.display_status = key.effective_status
        key.fingerprint_parts = _breakable(key.fingerprint_sha256)
        key.used_recently = bool(key.last_used_at and now - key.last_used_at < RECENT_USE)
    return keys


def _percent(share: float) -> float:
    return round(share * 100, 1)


def _widget_page(request, widget: Widget, *, status=200, **forms):
    keys = _keys_with_status(widget)
    is_admin = _is_admin(request)
    developer_only = not is_admin
    outcomes.flush()  # this process's buffered log rows count too
    week = insights.summarize(widget, "7d")
    key_use = {entry["kid"]: entry for entry in week["keys"]}
    for key in keys:
        key.can_revoke = key.display_status == KeyStatus.ACTIVE and _may_revoke_key(request, widget, key)
        use = key_use.get(key.kid, {"count": 0, "share": 0.0})
        key.week_count, key.week_percent = use["count"], _percent(use["share"])
    preview = dict(week["enforce_preview"], percent=_percent(week["enforce_preview"]["share_refused"]))
    context = {
        "widget": widget,
        "keys": keys,
        "preview": preview,
        "active_key_count": sum(1 for k in keys if k.display_status == KeyStatus.ACTIVE),
        "unsigned_fields": list(widget.unsigned_fields.order_by("label")),
        "settings_form": forms.get("settings_form")
        or WidgetSettingsForm(initial=WidgetSettingsForm.initial_for(widget)),
        "key_form": forms.get("key_form") or SigningKeyForm(developer_only=developer_only),
        "allowlist_form": forms.get("allowlist_form") or UnsignedFieldForm(),
        "can_change": is_admin,
        "can_add_key": _may_add_key(request, widget),
        "developer_only": developer_only,
        "base_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "widgets/widget_detail.html", context, status=status)


@tenant_view(Role.VIEWER)
def widget_detail(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    return _widget_page(request, widget)


@tenant_view(Role.ADMIN)
def widget_settings(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    if request.method != "POST":
        return _to_section(request, widget, "settings")
    form = WidgetSettingsForm(request.POST)
    if form.is_valid():
        try:
            widget = widget_update(widget=widget, changes=form.changes(), actor=request.user)
        except ServiceError as exc:
            attach_error(form, exc)
        else:
            messages.success(request, "Settings saved. They apply to the next verification.")
            return _to_section(request, widget, "settings")
    messages.error(request, "Nothing was saved: correct the settings marked below.")
    return _widget_page(request, widget, settings_form=form, status=400)


@tenant_view(Role.DEVELOPER)
def key_add(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    if not _may_add_key(request, widget):
        raise PermissionDenied("Developers may register test keys only on widgets that allow them.")
    if request.method != "POST":
        return _to_section(request, widget, "keys")
    developer_only = not _is_admin(request)
    form = SigningKeyForm(request.POST, developer_only=developer_only)
    pasted = request.POST.get("public_key", "")
    refusal_code = None
    if form.is_valid():
        try:
            key, warnings = signing_key_register(
                widget=widget,
                public_key=form.cleaned_data["public_key"],
                kid=form.cleaned_data["kid"].strip() or None,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
                is_test=True if developer_only else form.cleaned_data.get("is_test", False),
                actor=request.user,
            )
        except ServiceError as exc:
            refusal_code = exc.code
            attach_error(form, exc, default_field="public_key", field_map={"expires_at": "expires_on"})
        else:
            messages.success(request, f"Key '{key.kid}' registered. Fingerprint: {key.fingerprint_sha256}")
            for warning in warnings:
                messages.warning(request, warning)
            return _to_section(request, widget, f"key-{key.pk}")
    if refusal_code == "private_key_rejected" or intake.holds_private_key(pasted):
        # Never send pasted private key material back: empty the textarea, keep the errors.
        errors = form.errors.copy()
        if refusal_code != "private_key_rejected" and "public_key" not in errors:
            errors["public_key"] = form.error_class(
                ["This looks like private key material: it was cleared and not saved. Treat that key as exposed."]
            )
        data = request.POST.copy()
        data["public_key"] = ""
        form = SigningKeyForm(data, developer_only=developer_only)
        form._errors = errors
    return _widget_page(request, widget, key_form=form, status=400)


@tenant_view(Role.DEVELOPER)
def key_revoke(request, widget_id, kid):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    key = signing_key_for(widget=widget, kid=kid)
    if not _may_revoke_key(request, widget, key):
        raise PermissionDenied("Revoking this key needs the Admin role.")
    now = timezone.now()
    status = key.effective_status
    outcomes.flush()  # this process's buffered log rows count too
    usage = insights.key_usage(widget, key.kid, hours=24)
    used_recently = bool(key.last_used_at and now - key.last_used_at < RECENT_USE)
    # Either signal means a back end may still sign with this key: revoking it needs an explicit yes.
    needs_confirmation = status == KeyStatus.ACTIVE and (usage["count"] > 0 or used_recently)
    form = KeyRevokeForm(request.POST if request.method == "POST" else None)
    confirm_error = None
    if request.method == "POST" and form.is_valid():
        if needs_confirmation and not request.POST.get("confirm_in_use"):
            confirm_error = "Tick the box to confirm: this key is still in use, and its tokens will be refused."
        else:
            signing_key_revoke(key=key, actor=request.user, reason=form.cleaned_data["reason"])
            messages.success(
                request, f"Key '{key.kid}' revoked. Tokens signed with it are now refused with revoked_key."
            )
            return _to_section(request, widget, "keys")
    other_active = [
        k
        for k in signing_keys_of(widget=widget).exclude(pk=key.pk).filter(status=KeyStatus.ACTIVE)
        if k.effective_status == KeyStatus.ACTIVE
    ]
    context = {
        "widget": widget,
        "key": key,
        "status": status,
        "fingerprint_parts": _breakable(key.fingerprint_sha256),
        "form": form,
        "is_last_active": status == KeyStatus.ACTIVE and not other_active,
        "used_recently": used_recently,
        "usage": dict(usage, percent=_percent(usage["share"])),
        "needs_confirmation": needs_confirmation,
        "confirm_error": confirm_error,
        "other_active": other_active,
    }
    return render(request, "widgets/key_revoke.html", context, status=400 if request.method == "POST" else 200)


@tenant_view(Role.ADMIN)
def allowlist_add(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    if request.method != "POST":
        return _to_section(request, widget, "unsigned")
    form = UnsignedFieldForm(request.POST)
    if form.is_valid():
        try:
            field = unsigned_field_add(
                widget=widget, label=form.cleaned_data["label"], note=form.cleaned_data["note"], actor=request.user
            )
        except ServiceError as exc:
            attach_error(form, exc, default_field="label", field_map={"fields": "label"})
        else:
            messages.success(request, f"'{field.label}' may now arrive unsigned.")
            return _to_section(request, widget, "unsigned")
    return _widget_page(request, widget, allowlist_form=form, status=400)


@tenant_view(Role.ADMIN)
def allowlist_remove(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    if request.method == "POST":
        label = request.POST.get("label", "")
        if widget.unsigned_fields.filter(label=label).exists():
            unsigned_field_remove(widget=widget, label=label, actor=request.user)
            messages.success(request, f"'{label}' removed from the allowlist.")
        else:
            messages.info(request, "That label was not on the allowlist.")
    return _to_section(request, widget, "unsigned")
