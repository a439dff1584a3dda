from django.core.management.base import BaseCommand, CommandError

from ...services.permissions import BackupRefused
from ...services.restore import backup_restore
from ._common import (
    backup_by_id,
    organization_by_slug,
    quoted,
    recovery_point_backup_id,
    refused,
    restore_totals,
    user_by_username,
)


class Command(BaseCommand):
    help = "Restore an organisation from one of its backups, or preview the restore."

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int, nargs="?")
        parser.add_argument(
            "--recovery-point", type=int, help="Restore the backup of this recovery point."
        )
        parser.add_argument("--org", required=True, help="Slug of the organisation to restore.")
        parser.add_argument(
            "--strategy", required=True, choices=["replace_all", "merge", "selective"]
        )
        parser.add_argument("--tables", help="Comma-separated tables, for --strategy selective.")
        parser.add_argument(
            "--conflict",
            choices=["skip", "overwrite", "rename"],
            help="For merge (default skip), or selective to merge the tables instead of replacing.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count changes only.")
        parser.add_argument("--user", help="Username of the person restoring (role checked).")
        parser.add_argument(
            "--allow-cross-org",
            action="store_true",
            help="For a superuser restoring an organisation they are not a member of.",
        )

    def handle(self, *args, backup_id, recovery_point, org, strategy, dry_run, user, **options):
        if (backup_id is None) == (recovery_point is None):
            raise CommandError(
                'status=refused reason="Give a backup id or --recovery-point, not both."'
            )
        if recovery_point is not None:
            backup_id = recovery_point_backup_id(recovery_point)
        backup = backup_by_id(backup_id)
        organization = organization_by_slug(org)
        tables = options["tables"]
        try:
            restore = backup_restore(
                backup=backup,
                organization=organization,
                actor=user_by_username(user),
                strategy=strategy,
                dry_run=dry_run,
                allow_cross_org=options["allow_cross_org"],
                tables=[name.strip() for name in tables.split(",")] if tables else None,
                conflict=options["conflict"],
            )
        except BackupRefused as exc:
            raise refused(exc, f"backup={backup.pk} ") from exc
        self.stdout.write(summary(restore, backup=backup, organization=organization))


def summary(restore, *, backup, organization) -> str:
    keys = ["inserted", "updated", "deleted"]
    if restore.conflict_policy:
        keys += ["skipped", "renamed"]
    totals = restore_totals(restore, keys)
    line = (
        f"restore={restore.pk} backup={backup.pk} org={organization.slug} "
        f"strategy={restore.strategy} dry_run={str(restore.dry_run).lower()} "
        f"status={restore.status} " + " ".join(f"{key}={totals[key]}" for key in keys)
    )
    if restore.conflict_policy:
        line += f" conflict={restore.conflict_policy}"
    line += f" {organization.clock_fields('completed_at', restore.completed_at)}"
    if restore.archive_note:
        line += f" source=replica note={quoted(restore.archive_note)}"
    return line
