from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from keys import kek, platform


class Command(BaseCommand):
    help = (
        "Create a new session-signing key (it signs from now on; older keys stay published and keep verifying) "
        "and retire keys replaced longer ago than a session token lives."
    )

    def handle(self, *args, **options):
        try:
            key, retired = platform.session_key_rotate()
        except (kek.KekError, ImproperlyConfigured, DatabaseError) as exc:
            raise CommandError(f"Session key rotation failed: {exc}") from None
        self.stdout.write(f"New session key {key.kid} is signing; retired {retired} superseded key(s).")
