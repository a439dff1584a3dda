from django.core.management.base import BaseCommand, CommandError

from ...services.backup import backup_create
from ...services.permissions import BackupRefused
from ._common import organization_by_slug, quoted, refused, user_by_username


class Command(BaseCommand):
    help = "Back up one organisation's projects, properties, analyses and their history."

    def add_arguments(self, parser):
        parser.add_argument("org_slug")
        parser.add_argument(
            "--type",
            dest="backup_type",
            default="full",
            choices=["full", "incremental", "selective"],
        )
        parser.add_argument("--tables", help="Comma-separated tables, for --type selective.")
        parser.add_argument("--user", help="Username recorded as the backup's creator.")

    def handle(self, *args, org_slug, backup_type, tables, user, **options):
        organization = organization_by_slug(org_slug)
        try:
            backup = backup_create(
                organization=organization,
                actor=user_by_username(user),
                backup_type=backup_type,
                tables=[name.strip() for name in tables.split(",")] if tables else None,
            )
        except BackupRefused as exc:
            raise refused(exc) from exc
        if backup.status != backup.Status.COMPLETED:
            raise CommandError(
                f"backup={backup.pk} status={backup.status} error={quoted(backup.error_message)}"
            )
        line = (
            f"backup={backup.pk} status={backup.status} records={backup.record_count} "
            f"bytes={backup.size_bytes} sha256={backup.sha256} "
            f"{organization.clock_fields('completed_at', backup.completed_at)}"
        )
        if backup.backup_type == backup_type == "incremental":
            line += f" type=incremental parent={backup.base_backup_id}"
        self.stdout.write(line)
