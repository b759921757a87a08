"""Public signing keys registered on widgets, and the platform's own key pairs.

A SigningKey holds only public material (normalised SPKI PEM). The platform's
encryption and session keys hold their private half only encrypted under the
key-encryption key (`SIGNET_KEK`); see keys/kek.py.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.models import Tenant
from widgets.models import Widget


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class SigningKey(models.Model):
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="signing_keys")
    kid = models.CharField(max_length=200)
    name = models.CharField(max_length=120, blank=True)
    public_key_pem = models.TextField()  # normalised SubjectPublicKeyInfo PEM
    key_type = models.CharField(max_length=8)  # EC / RSA
    curve = models.CharField(max_length=16, blank=True)
    bits = models.PositiveIntegerField()
    algorithms = models.JSONField(default=list)
    fingerprint_sha256 = models.CharField(max_length=95)  # hex of SHA-256(SPKI DER); 95: it once had colons
    jwk_thumbprint = models.CharField(max_length=64)  # RFC 7638, base64url
    source_format = models.CharField(max_length=24, blank=True)  # spki / pkcs1 / certificate / jwk
    certificate_not_after = models.DateTimeField(null=True, blank=True)
    is_test = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["widget", "kid"], name="signingkey_widget_kid_unique"),
            models.UniqueConstraint(
                fields=["widget", "fingerprint_sha256"], name="signingkey_widget_fingerprint_unique"
            ),
            models.CheckConstraint(condition=models.Q(status__in=KeyStatus.values), name="signingkey_status_valid"),
        ]

    def __str__(self):
        return f"{self.kid} ({self.key_type} {self.curve or self.bits}) on {self.widget.public_id}"

    @property
    def effective_status(self) -> str:
        if self.status == KeyStatus.ACTIVE and self.expires_at and self.expires_at <= timezone.now():
            return KeyStatus.EXPIRED
        return self.status


class EncryptionKeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class EncryptionKey(models.Model):
    """The tenant's RSA key pair that websites encrypt interaction data to (RSA-OAEP-256)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="encryption_keys")
    kid = models.CharField(max_length=64)
    public_key_pem = models.TextField()
    fingerprint_sha256 = models.CharField(max_length=95)  # as SigningKey.fingerprint_sha256
    private_key_encrypted = models.TextField()  # KEK-encrypted PKCS#8, never clear text
    status = models.CharField(max_length=10, choices=EncryptionKeyStatus.choices, default=EncryptionKeyStatus.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "kid"], name="encryptionkey_tenant_kid_unique")]

    def __str__(self):
        return f"{self.kid} ({self.status}) of {self.tenant.slug}"


class SessionSigningKey(models.Model):
    """The portal's own ES256 key for visitor session tokens (not tenant-owned)."""

    kid = models.CharField(max_length=64)
    public_key_pem = models.TextField()
    private_key_encrypted = models.TextField()
    status = models.CharField(max_length=10, choices=EncryptionKeyStatus.choices, default=EncryptionKeyStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["kid"], name="sessionsigningkey_kid_unique")]

    def __str__(self):
        return f"session key {self.kid} ({self.status})"
