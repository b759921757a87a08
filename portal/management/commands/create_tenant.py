from django.core.management.base import BaseCommand, CommandError

from portal.errors import ServiceError
from portal.services import tenant_create


class Command(BaseCommand):
    help = 'Create a tenant: create_tenant <slug> --name "<display name>"'

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="display name (defaults to the slug)")

    def handle(self, *args, slug, name, **options):
        try:
            tenant = tenant_create(slug=slug, name=name, actor="manage.py create_tenant")
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Created tenant '{tenant.slug}' ({tenant.name}).")
