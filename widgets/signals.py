"""The one place where a change to a widget, its signing keys or its allowlist invalidates
the verification snapshots (widgets/config.py), whatever made it: the services, Django admin,
a shell or a data migration. Writes that send no signal (`.update()`, `bulk_create`) call
`config.widget_changed` themselves."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from keys.models import SigningKey
from widgets import config
from widgets.models import UnsignedField, Widget


@receiver(post_save, sender=SigningKey)
@receiver(post_delete, sender=SigningKey)
@receiver(post_save, sender=UnsignedField)
@receiver(post_delete, sender=UnsignedField)
def _child_changed(sender, instance, **kwargs):
    config.widget_changed(instance.widget_id)


@receiver(post_save, sender=Widget)
def _widget_saved(sender, instance, created, **kwargs):
    if not created:  # a new widget has no snapshot anywhere yet
        config.widget_changed(instance.pk)


@receiver(post_delete, sender=Widget)
def _widget_deleted(sender, instance, **kwargs):
    config.invalidate_on_commit(instance.public_id)
