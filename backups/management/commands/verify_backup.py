from django.core.management.base import BaseCommand, CommandError

from ...services.verify import backup_verify
from ._common import backup_by_id, quoted


class Command(BaseCommand):
    help = "Check a backup's SHA-256 and manifest, and restore it in a rolled-back transaction."

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int)

    def handle(self, *args, backup_id, **options):
        backup = backup_verify(backup=backup_by_id(backup_id))
        line = (
            f"backup={backup.pk} org={backup.organization.slug} "
            f"verification={backup.verification_status} records={backup.record_count} "
            f"{backup.organization.clock_fields('verified_at', backup.verified_at)}"
        )
        if backup.verification_status != backup.Verification.PASSED:
            raise CommandError(f"{line} reason={quoted(backup.verification_message)}")
        self.stdout.write(line)
