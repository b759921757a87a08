"""Fingerprints are stored as `sha256sum` prints them (64 hex digits), the form API.md names.

They used to be colon-separated. One UPDATE per table; the unique (widget, fingerprint) constraint
holds throughout, since dropping the colons maps distinct values to distinct values. Reversing it puts
the colons back.
"""

from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Replace

MODELS = ("SigningKey", "EncryptionKey")


def drop_colons(apps, schema_editor):
    for name in MODELS:
        model = apps.get_model("keys", name)
        model.objects.filter(fingerprint_sha256__contains=":").update(
            fingerprint_sha256=Replace("fingerprint_sha256", Value(":"), Value(""))
        )


def add_colons(apps, schema_editor):
    for name in MODELS:
        model = apps.get_model("keys", name)
        for row in model.objects.exclude(fingerprint_sha256__contains=":").only("pk", "fingerprint_sha256"):
            plain = row.fingerprint_sha256
            row.fingerprint_sha256 = ":".join(plain[i : i + 2] for i in range(0, len(plain), 2))
            row.save(update_fields=["fingerprint_sha256"])


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(drop_colons, add_colons, elidable=True),
    ]
