from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from keys import kek, platform


class Command(BaseCommand):
    help = (
        "Re-encrypt every platform private key (encryption and session keys) under the current SIGNET_KEK, "
        "in one transaction. Put the old KEK in SIGNET_KEK_PREVIOUS first; remove it once this succeeded."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from-development-kek",
            action="store_true",
            help="also open keys sealed under the development KEK derived from SECRET_KEY (moving off it)",
        )

    def handle(self, *args, from_development_kek=False, **options):
        try:
            enc, session, kek_id = platform.platform_keys_rekey(with_development_kek=from_development_kek)
        except (kek.KekError, ImproperlyConfigured, DatabaseError) as exc:
            raise CommandError(f"KEK rotation failed, nothing changed: {exc}") from None
        self.stdout.write(f"Re-encrypted {enc} encryption key(s) and {session} session key(s) under KEK {kek_id}.")
