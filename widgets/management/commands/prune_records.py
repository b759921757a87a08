"""Delete verification log rows past retention, and expired replay records."""

from django.core.management.base import BaseCommand

from widgets import outcomes, replay


class Command(BaseCommand):
    help = "Prune the verification log (older than VERIFICATION_LOG_RETENTION_DAYS) and expired jti records."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the retention in days")

    def handle(self, *args, days, **options):
        if days is not None and days < 0:
            from django.core.management.base import CommandError

            raise CommandError("--days must be 0 or more.")
        logs = outcomes.prune(days=days)
        records = replay.prune()
        self.stdout.write(f"Pruned {logs} verification log rows and {records} expired replay records.")
