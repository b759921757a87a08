"""Django admin for ops. Audit events are read-only; API keys show only their prefix."""

from django.contrib import admin

from portal.models import ApiKey, AuditEvent, Invitation, LoginThrottle, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "tenant__slug"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "tenant", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "tenant__slug"]
    list_select_related = ["tenant", "created_by"]
    # Keys are created with `manage.py create_api_key` or the portal, where the secret is shown once.
    exclude = ["key_hash"]
    readonly_fields = ["tenant", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected API keys (requests with them get 401)")
    def revoke_keys(self, request, queryset):
        from portal.services import api_key_revoke

        keys = list(queryset.select_related("tenant"))
        for key in keys:
            api_key_revoke(api_key=key, actor=request.user)
        self.message_user(request, f"Revoked {len(keys)} API key(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "tenant", "actor_label", "action", "target", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_label", "action", "target", "tenant__slug"]
    list_select_related = ["tenant"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "tenant", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["role"]
    search_fields = ["email", "tenant__slug"]
    exclude = ["token_hash"]
    readonly_fields = ["tenant", "email", "role", "invited_by", "created_at", "expires_at", "accepted_at"]

    def has_add_permission(self, request):
        return False


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    list_display = ["scope", "failures", "locked_until", "updated_at"]
    search_fields = ["scope"]
