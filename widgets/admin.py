from datetime import UTC

from django.contrib import admin
from django.utils.html import format_html

from widgets.models import UnsignedField, VerificationLog, Widget


class UnsignedFieldInline(admin.TabularInline):
    model = UnsignedField
    extra = 0


@admin.register(Widget)
class WidgetAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "tenant", "enforcement", "signed_required", "updated_at"]
    list_filter = ["enforcement", "encryption_required", "require_exp"]
    search_fields = ["name", "public_id", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["public_id", "signed_required", "config_version", "created_at", "updated_at"]
    inlines = [UnsignedFieldInline]


@admin.register(UnsignedField)
class UnsignedFieldAdmin(admin.ModelAdmin):
    list_display = ["label", "widget", "note", "created_at"]
    search_fields = ["label", "widget__public_id", "widget__name"]
    list_select_related = ["widget"]


@admin.register(VerificationLog)
class VerificationLogAdmin(admin.ModelAdmin):
    # Narrow enough for the changelist beside its filters at 1280 px with the admin's navigation open:
    # would_reject is a filter, and there is no checkbox column (no bulk actions on the log).
    list_display = ["second", "widget_ref", "code", "count", "kid", "latency"]
    actions = None
    list_filter = ["code", "would_reject", "payload_format", "encrypted"]
    search_fields = ["widget__public_id", "kid", "code"]
    list_select_related = ["widget"]

    @admin.display(description="second (UTC)", ordering="at")
    def second(self, row):
        # Rows are rolled up per second: the default format ("Nov. 21, 2026, 9:51 a.m.") hid the seconds.
        return row.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="widget", ordering="widget__public_id")
    def widget_ref(self, row):
        # A line-break opportunity after "wgt_": the id has no hyphen, so the list scrolled by a few px at
        # 1280 px. <wbr> is not a character: a copied id stays whole.
        prefix, _, rest = row.widget.public_id.partition("_")
        return format_html("{}_<wbr>{}", prefix, rest) if rest else row.widget.public_id

    # The unit is in the cell: the admin writes headers in capitals, and "µs" became "ΜS", which reads as ms.
    @admin.display(description="latency mean / max")
    def latency(self, row):
        return f"{row.latency_us} / {max(row.latency_max_us, row.latency_us)} µs"  # 0: a row from before roll-up

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
