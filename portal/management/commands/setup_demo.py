"""Idempotent demo data for `make run`: a tenant, a widget and an owner login."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from portal.models import Role, Tenant
from portal.services import membership_set, tenant_create
from widgets.models import Widget
from widgets.services import unsigned_field_add, widget_create


class Command(BaseCommand):
    help = "Create (once) the demo tenant 'demo', its widget 'Website chat' and the login 'demo'."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password-file", default="var/demo-password", help="where the demo password is kept between runs"
        )

    def handle(self, *args, password_file, **options):
        User = get_user_model()
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug="demo").first() or tenant_create(
                slug="demo", name="Demo Company", actor="manage.py setup_demo"
            )
            user = User.objects.filter(username="demo").first()
            if user is None:
                password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
                user = User.objects.create_user("demo", email="demo@example.com", password=password)
                os.makedirs(os.path.dirname(password_file) or ".", exist_ok=True)
                with open(password_file, "w") as fh:
                    fh.write(password + "\n")
                os.chmod(password_file, 0o600)
            membership_set(tenant=tenant, user=user, role=Role.OWNER, actor="manage.py setup_demo")
            widget = Widget.objects.filter(tenant=tenant).first()
            if widget is None:
                widget = widget_create(tenant=tenant, name="Website chat", actor="manage.py setup_demo")
                unsigned_field_add(
                    widget=widget, label="page_url", note="where the chat was opened", actor="manage.py setup_demo"
                )
        try:
            with open(password_file) as fh:
                password = fh.read().strip()
        except OSError:
            password = "(set before this run; reset with: python manage.py changepassword demo)"
        self.stdout.write(f"Demo ready: tenant 'demo', widget {widget.public_id}, login demo / {password}")
