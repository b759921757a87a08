"""Daily housekeeping: mark keys past expires_at as expired (with their audit event), delete
verification log rows past retention and expired replay records."""

from django.core.management.base import BaseCommand

from keys.services import signing_keys_expire
from widgets import outcomes, replay


class Command(BaseCommand):
    help = (
        "Mark keys past expires_at as expired (audited; they already stop verifying at that moment), prune the "
        "verification log (older than VERIFICATION_LOG_RETENTION_DAYS) and expired jti records. Run it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the retention in days")

    def handle(self, *args, days, **options):
        if days is not None and days < 0:
            from django.core.management.base import CommandError

            raise CommandError("--days must be 0 or more.")
        expired = signing_keys_expire()
        logs = outcomes.prune(days=days)
        records = replay.prune()
        self.stdout.write(
            f"Marked {expired} keys expired; pruned {logs} verification log rows and {records} expired replay records."
        )
