from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from ...pitr import organization_restore_as_of
from ...services.permissions import BackupRefused
from ._common import organization_by_slug, refused, restore_totals, user_by_username


class Command(BaseCommand):
    help = "Put an organisation's projects, properties and analyses back to an instant."

    def add_arguments(self, parser):
        parser.add_argument("org_slug")
        parser.add_argument(
            "--as-of", required=True, help="ISO 8601 instant, e.g. 2026-12-01T09:30:00+11:00."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count changes only.")
        parser.add_argument("--user", help="Username of the person restoring (role checked).")

    def handle(self, *args, org_slug, as_of, dry_run, user, **options):
        organization = organization_by_slug(org_slug)
        instant = parse_datetime(as_of)
        if instant is None:
            raise CommandError(f'status=refused reason="{as_of} is not an ISO 8601 date and time."')
        try:
            restore = organization_restore_as_of(
                organization=organization,
                as_of=instant,
                actor=user_by_username(user),
                dry_run=dry_run,
            )
        except BackupRefused as exc:
            raise refused(exc, f"org={organization.slug} ") from exc
        totals = restore_totals(restore, ("inserted", "updated", "deleted"))
        self.stdout.write(
            f"restore={restore.pk} org={organization.slug} as_of={restore.as_of.isoformat()} "
            f"base_backup={restore.backup_id or 'none'} dry_run={str(dry_run).lower()} "
            f"status={restore.status} inserted={totals['inserted']} "
            f"updated={totals['updated']} deleted={totals['deleted']}"
        )
