"""Reads of signing keys, always through the widget (itself reached through the tenant)."""

from django.db.models import QuerySet
from django.http import Http404

from keys.models import EncryptionKey, SigningKey
from portal.models import Tenant
from widgets.models import Widget


def signing_keys_of(*, widget: Widget) -> QuerySet[SigningKey]:
    return SigningKey.objects.filter(widget=widget).select_related("created_by").order_by("-created_at", "-id")


def signing_key_for(*, widget: Widget, kid: str) -> SigningKey:
    try:
        return SigningKey.objects.select_related("widget").get(widget=widget, kid=kid)
    except SigningKey.DoesNotExist:
        raise Http404("No such key on this widget.") from None


def encryption_keys_of(*, tenant: Tenant) -> QuerySet[EncryptionKey]:
    return EncryptionKey.objects.filter(tenant=tenant).order_by("-created_at", "-id")


def encryption_key_for(*, tenant: Tenant, kid: str) -> EncryptionKey:
    try:
        return EncryptionKey.objects.get(tenant=tenant, kid=kid)
    except EncryptionKey.DoesNotExist:
        raise Http404("No such encryption key.") from None
