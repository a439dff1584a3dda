from django.core.management.base import BaseCommand, CommandError

from ...services.permissions import BackupRefused
from ...services.restore import backup_restore
from ._common import backup_by_id, organization_by_slug, quoted, user_by_username


class Command(BaseCommand):
    help = "Restore an organisation from one of its backups (replace_all), or preview it."

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int)
        parser.add_argument("--org", required=True, help="Slug of the organisation to restore.")
        parser.add_argument("--strategy", required=True, choices=["replace_all"])
        parser.add_argument("--dry-run", action="store_true", help="Count changes only.")
        parser.add_argument("--user", help="Username of the person restoring (role checked).")
        parser.add_argument(
            "--allow-cross-org",
            action="store_true",
            help="For a superuser restoring an organisation they are not a member of.",
        )

    def handle(self, *args, backup_id, org, strategy, dry_run, user, allow_cross_org, **options):
        backup = backup_by_id(backup_id)
        organization = organization_by_slug(org)
        try:
            restore = backup_restore(
                backup=backup,
                organization=organization,
                actor=user_by_username(user),
                strategy=strategy,
                dry_run=dry_run,
                allow_cross_org=allow_cross_org,
            )
        except BackupRefused as exc:
            raise CommandError(
                f"backup={backup.pk} status=refused reason={quoted(exc.messages[0])}"
            ) from exc
        totals = {
            key: sum(table[key] for table in restore.counts.values())
            for key in ("inserted", "updated", "deleted")
        }
        self.stdout.write(
            f"restore={restore.pk} backup={backup.pk} org={organization.slug} "
            f"strategy={strategy} dry_run={str(dry_run).lower()} status={restore.status} "
            f"inserted={totals['inserted']} updated={totals['updated']} "
            f"deleted={totals['deleted']} "
            f"{organization.clock_fields('completed_at', restore.completed_at)}"
        )
