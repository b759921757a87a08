"""Keep the API-key and tenant caches honest for writes outside the services (e.g. Django admin)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from portal import api
from portal.models import ApiKey, Tenant


@receiver(post_save, sender=ApiKey)
def _api_key_saved(sender, instance, **kwargs):
    api.forget_api_key(instance.prefix, gone=instance.revoked_at is not None)


@receiver(post_delete, sender=ApiKey)
def _api_key_deleted(sender, instance, **kwargs):
    api.forget_api_key(instance.prefix, gone=True)


@receiver(post_save, sender=Tenant)
def _tenant_saved(sender, instance, created, **kwargs):
    # The API-key entries carry the tenant's slug and name.
    if not created:
        for prefix in ApiKey.objects.filter(tenant=instance).values_list("prefix", flat=True):
            api.forget_api_key(prefix, gone=False)
