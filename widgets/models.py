"""Widgets, their verification policy, the unsigned-field allowlist, and the
records the verification use-case keeps (replay, visitor sessions, outcomes)."""

import secrets

from django.db import models
from django.utils import timezone

from portal.models import Tenant


def new_widget_id() -> str:
    return "wgt_" + secrets.token_urlsafe(12)


class Enforcement(models.TextChoices):
    OFF = "off", "Off: accept unsigned data"
    MONITOR = "monitor", "Monitor: accept, report what enforce would refuse"
    ENFORCE = "enforce", "Enforce: only signed or allowlisted data"


# JSON types a policy may require of a claim.
CLAIM_TYPES = ("string", "number", "boolean", "object", "array", "any")


class Widget(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="widgets")
    public_id = models.CharField(max_length=40, default=new_widget_id, editable=False)
    name = models.CharField(max_length=120)
    enforcement = models.CharField(max_length=10, choices=Enforcement.choices, default=Enforcement.OFF)
    # Derived from `enforcement` (true exactly when enforcing); stored for queries and admin.
    signed_required = models.BooleanField(default=False)

    # Policy. Defaults accept all three integration formats (fields array,
    # claims object, encrypted) while refusing anything ambiguous.
    leeway_seconds = models.PositiveIntegerField(default=60)
    max_token_age_seconds = models.PositiveIntegerField(null=True, blank=True)
    require_exp = models.BooleanField(default=False)
    max_lifetime_seconds = models.PositiveIntegerField(null=True, blank=True, default=24 * 3600)
    required_claims = models.JSONField(default=dict, blank=True)
    expected_audience = models.CharField(max_length=200, blank=True)
    expected_issuer = models.CharField(max_length=200, blank=True)
    require_token = models.BooleanField(default=False)
    encryption_required = models.BooleanField(default=False)
    session_subject_claim = models.CharField(max_length=64, default="sub")
    allow_developer_test_keys = models.BooleanField(default=False)

    # Bumped on every change to the widget, its keys or allowlist (cache invalidation).
    config_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="widget_public_id_unique"),
            models.CheckConstraint(
                condition=(
                    models.Q(enforcement="enforce", signed_required=True)
                    | (~models.Q(enforcement="enforce") & models.Q(signed_required=False))
                ),
                name="widget_signed_required_matches_enforcement",
            ),
            models.CheckConstraint(
                condition=models.Q(enforcement__in=Enforcement.values), name="widget_enforcement_valid"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.public_id})"

    def save(self, *args, **kwargs):
        self.signed_required = self.enforcement == Enforcement.ENFORCE
        super().save(*args, **kwargs)


class UnsignedField(models.Model):
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="unsigned_fields")
    label = models.CharField(max_length=100)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["widget", "label"], name="unsignedfield_widget_label_unique")]

    def __str__(self):
        return f"{self.label} on {self.widget.public_id}"


class ReplayRecord(models.Model):
    """A `jti` accepted for a widget, kept until the token could no longer verify."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="+")
    jti_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["widget", "jti_hash"], name="replay_widget_jti_unique")]

    def __str__(self):
        return f"{self.jti_hash[:12]}… on widget {self.widget_id}"


class VisitorSession(models.Model):
    """A session token issued after a verified visitor; redeemable once."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="visitor_sessions")
    jti = models.CharField(max_length=64)
    sub = models.CharField(max_length=255)
    fields = models.JSONField(default=list)
    expires_at = models.DateTimeField(db_index=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["jti"], name="visitorsession_jti_unique")]

    def __str__(self):
        return f"session {self.jti[:12]}… for {self.sub}"


class VerificationLog(models.Model):
    """Verification outcomes: one row per distinct outcome per second, with how many there were.

    Identical outcomes (equal in every column of widgets.outcomes.ROW_KEY) in the same second are one
    row with `count`; a row with count 1 is a single verification. Labels and codes only: never the
    token, claim values or personal data.
    """

    # No database FK check and no index of its own on this hot, append-only table: the constraint
    # cost PostgreSQL a lookup per row written (about 40 % of the COPY), and (widget, at) below serves
    # every widget lookup. Deleting a widget still deletes its rows (Django's CASCADE); a row written
    # while its widget is being deleted is dropped by the retention prune.
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    at = models.DateTimeField(default=timezone.now)  # the second the row's outcomes happened in
    code = models.CharField(max_length=40)  # "ok", "unsigned" or an error code
    would_reject = models.CharField(max_length=40, blank=True)
    kid = models.CharField(max_length=200, blank=True)
    alg = models.CharField(max_length=16, blank=True)
    payload_format = models.CharField(max_length=16, blank=True)  # fields / claims / none
    encrypted = models.BooleanField(default=False)
    # Added to a live table: database defaults, so a writer that does not know the column (a worker
    # still on the previous release during a rolling deploy) keeps inserting rows; no CHECK constraint,
    # which PostgreSQL would verify against every existing row under an exclusive lock.
    count = models.IntegerField(default=1, db_default=1, help_text="How many identical outcomes this row stands for.")
    payload_bytes = models.PositiveIntegerField(default=0, help_text="The largest token of the row, in bytes.")
    latency_us = models.PositiveIntegerField(default=0, help_text="Mean verification time of the row, in µs.")
    latency_max_us = models.IntegerField(
        default=0, db_default=0, help_text="Slowest verification of the row, in µs (0: written before roll-up)."
    )
    api_key_prefix = models.CharField(max_length=16, blank=True)
    unsigned_labels = models.JSONField(default=list, blank=True)
    rejected_labels = models.JSONField(default=list, blank=True)  # what `enforce` drops, in any mode

    class Meta:
        indexes = [models.Index(fields=["widget", "at"], name="verlog_widget_at")]

    def __str__(self):
        times = f" ×{self.count}" if self.count != 1 else ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.code}{times}"
