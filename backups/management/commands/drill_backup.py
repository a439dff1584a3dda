from django.core.management.base import BaseCommand, CommandError

from ...drills import backup_drill
from ...services.permissions import BackupRefused
from ._common import backup_by_id, quoted, refused, user_by_username


class Command(BaseCommand):
    help = "Restore a backup into scratch tables, run the integrity checks there and compare it "
    help += "with its manifest; nothing real is touched."

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int)
        parser.add_argument("--user", help="Username of the person drilling (role checked).")

    def handle(self, *args, backup_id, user, **options):
        backup = backup_by_id(backup_id)
        try:
            drill = backup_drill(backup=backup, actor=user_by_username(user))
        except BackupRefused as exc:
            raise refused(exc, f"backup={backup.pk} ") from exc
        errors = sum(r["count"] for r in drill.check_results if r["severity"] == "ERROR")
        matches = {True: "match", False: "differs", None: "unknown"}[drill.fingerprint_matches]
        line = (
            f"drill={drill.pk} backup={backup.pk} org={backup.organization.slug} "
            f"status={drill.status} fingerprint={matches} check_errors={errors}"
        )
        if drill.status != drill.Status.PASSED:
            raise CommandError(f"{line} reason={quoted(drill.message)}")
        self.stdout.write(line)
