"""Ops views of keys. Only public material is shown; encrypted private halves are never displayed."""

from django.contrib import admin

from keys.models import EncryptionKey, SessionSigningKey, SigningKey


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_display = ["kid", "widget", "key_type", "curve", "bits", "status", "is_test", "expires_at", "last_used_at"]
    list_filter = ["status", "key_type", "curve", "is_test"]
    search_fields = ["kid", "name", "fingerprint_sha256", "jwk_thumbprint", "widget__public_id"]
    list_select_related = ["widget"]
    readonly_fields = [
        "widget",
        "kid",
        "public_key_pem",
        "key_type",
        "curve",
        "bits",
        "algorithms",
        "fingerprint_sha256",
        "jwk_thumbprint",
        "source_format",
        "certificate_not_after",
        "created_by",
        "created_at",
        "revoked_at",
        "last_used_at",
        # Changed only through the services (audit, cache invalidation): use the action below.
        "status",
        "expires_at",
        "is_test",
    ]
    actions = ["revoke_keys"]

    def has_add_permission(self, request):
        # Keys enter through the portal or the API, where intake refuses private keys.
        return False

    @admin.action(description="Revoke the selected keys (they stop verifying at once)")
    def revoke_keys(self, request, queryset):
        from keys.services import signing_key_revoke

        keys = list(queryset.select_related("widget__tenant"))
        for key in keys:
            signing_key_revoke(key=key, actor=request.user, reason="Django admin")
        self.message_user(request, f"Revoked {len(keys)} key(s).")


@admin.register(EncryptionKey)
class EncryptionKeyAdmin(admin.ModelAdmin):
    list_display = ["kid", "tenant", "status", "fingerprint_sha256", "created_at", "retired_at"]
    list_filter = ["status"]
    search_fields = ["kid", "tenant__slug", "fingerprint_sha256"]
    list_select_related = ["tenant"]
    exclude = ["private_key_encrypted"]
    readonly_fields = [
        "tenant",
        "kid",
        "public_key_pem",
        "fingerprint_sha256",
        "created_by",
        "created_at",
        "retired_at",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(SessionSigningKey)
class SessionSigningKeyAdmin(admin.ModelAdmin):
    list_display = ["kid", "status", "created_at", "retired_at"]
    list_filter = ["status"]
    exclude = ["private_key_encrypted"]
    readonly_fields = ["kid", "public_key_pem", "created_at", "retired_at"]

    def has_add_permission(self, request):
        return False
