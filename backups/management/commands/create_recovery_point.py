from django.core.management.base import BaseCommand

from ...recovery_points import recovery_point_create
from ...services.permissions import BackupRefused
from ._common import organization_by_slug, refused, user_by_username


class Command(BaseCommand):
    help = "Take a full backup of one organisation and name it as a recovery point."

    def add_arguments(self, parser):
        parser.add_argument("org_slug")
        parser.add_argument("--description", required=True, help="What the point is before.")
        parser.add_argument("--user", help="Username recorded as the point's creator.")

    def handle(self, *args, org_slug, description, user, **options):
        organization = organization_by_slug(org_slug)
        try:
            point = recovery_point_create(
                organization=organization, description=description, actor=user_by_username(user)
            )
        except BackupRefused as exc:
            raise refused(exc) from exc
        self.stdout.write(
            f"recovery_point={point.pk} backup={point.backup_id} org={organization.slug} "
            f"status=completed records={point.backup.record_count}"
        )
