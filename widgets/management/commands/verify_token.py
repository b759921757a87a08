"""`manage.py verify_token <widget-id> <token|->`: the API's answer, for ops.

The widget is looked up by its public id across tenants (ops have database
access anyway); the answer is exactly what POST /api/v1/widgets/<id>/verify
would return, printed as JSON, with exit code 0 for 200 and 1 otherwise.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from portal.errors import ServiceError
from widgets import config
from widgets.models import Widget
from widgets.verification import VerifyItem, verify_item


class Command(BaseCommand):
    help = "Verify a token for a widget and print the API's JSON answer. Use '-' to read the token from stdin."

    def add_arguments(self, parser):
        parser.add_argument("widget_id")
        parser.add_argument("token", help="the compact JWS/JWE, or - for standard input")
        parser.add_argument(
            "--consume-jti",
            action="store_true",
            help="record the jti as the API would (default: a dry run that leaves replay state alone)",
        )

    def handle(self, *args, widget_id, token, consume_jti, **options):
        if token == "-":
            token = sys.stdin.read()
        token = token.strip()
        if not token:
            raise CommandError("No token given.")
        tenant_id = Widget.objects.filter(public_id=widget_id).values_list("tenant_id", flat=True).first()
        if tenant_id is None:
            raise CommandError(f"Unknown widget '{widget_id}'.")
        try:
            snapshot = config.snapshot_for(tenant_id=tenant_id, public_id=widget_id)
            status, body = verify_item(snapshot, VerifyItem(token=token), consume_jti=consume_jti)
        except ServiceError as exc:
            status, body = exc.status, {"error": {"code": exc.code, "message": exc.message}}
        except Http404:
            raise CommandError(f"Unknown widget '{widget_id}'.") from None
        self.stdout.write(json.dumps({"status": status, **body}, indent=2, ensure_ascii=False))
        if status != 200 or not body.get("verified"):
            raise SystemExit(1)
