"""Reads of widget data; every function takes the tenant it is scoped to."""

from django.db.models import QuerySet
from django.http import Http404

from portal.models import Tenant
from widgets.models import Widget


def widgets_of(*, tenant: Tenant) -> QuerySet[Widget]:
    return Widget.objects.filter(tenant=tenant).order_by("name", "id")


def widget_for(*, tenant: Tenant, public_id: str) -> Widget:
    """The tenant's widget, or 404: another tenant's widget is answered like a missing one."""
    try:
        return Widget.objects.select_related("tenant").get(tenant=tenant, public_id=public_id)
    except Widget.DoesNotExist:
        raise Http404("No such widget.") from None


def unsigned_labels_of(*, widget: Widget) -> list[str]:
    return list(widget.unsigned_fields.order_by("label").values_list("label", flat=True))
