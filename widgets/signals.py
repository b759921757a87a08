"""Cache invalidation for writes that bypass the services (Django admin, shell, data migrations).

The services already bump `Widget.config_version` and publish it; these receivers
make every other save or delete of a widget, a signing key or an allowlist entry
do the same, so no write path can leave a revoked key verifying in some process.
"""

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from keys.models import SigningKey
from widgets import config
from widgets.models import UnsignedField, Widget


def _bump(widget_id: int) -> None:
    public_id = Widget.objects.filter(pk=widget_id).values_list("public_id", flat=True).first()
    if public_id is None:
        return
    Widget.objects.filter(pk=widget_id).update(config_version=F("config_version") + 1)
    config.invalidate_on_commit(public_id)


@receiver(post_save, sender=SigningKey)
@receiver(post_delete, sender=SigningKey)
@receiver(post_save, sender=UnsignedField)
@receiver(post_delete, sender=UnsignedField)
def _child_changed(sender, instance, **kwargs):
    _bump(instance.widget_id)


@receiver(post_save, sender=Widget)
def _widget_saved(sender, instance, created, **kwargs):
    if not created:
        _bump(instance.pk)


@receiver(post_delete, sender=Widget)
def _widget_deleted(sender, instance, **kwargs):
    config.invalidate_on_commit(instance.public_id)
