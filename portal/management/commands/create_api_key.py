from django.core.management.base import BaseCommand, CommandError

from portal.errors import ServiceError
from portal.selectors import tenant_by_slug
from portal.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant and print it once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("tenant_slug")
        parser.add_argument("--name", default="", help="a label to recognise the key by")

    def handle(self, *args, tenant_slug, name, **options):
        tenant = tenant_by_slug(slug=tenant_slug)
        if tenant is None:
            raise CommandError(f"Unknown tenant '{tenant_slug}'.")
        try:
            key, raw = api_key_create(tenant=tenant, name=name, actor="manage.py create_api_key")
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Created API key sgn_{key.prefix}_… for tenant '{tenant.slug}'. It is shown once:")
        self.stdout.write(raw)
