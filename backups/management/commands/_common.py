from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from organizations.models import Organization

from ...models import BackupExecution, RecoveryPoint


def organization_by_slug(slug: str) -> Organization:
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        raise CommandError(f"status=refused reason=unknown_organization org={slug}")
    return organization


def user_by_username(username: str | None):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"status=refused reason=unknown_user user={username}")
    return user


def backup_by_id(backup_id: int) -> BackupExecution:
    backup = BackupExecution.objects.select_related("organization").filter(pk=backup_id).first()
    if backup is None:
        raise CommandError(f"status=refused reason=unknown_backup backup={backup_id}")
    return backup


def quoted(message: str) -> str:
    return '"' + message.replace('"', "'") + '"'


def recovery_point_backup_id(point_id: int) -> int:
    backup_id = (
        RecoveryPoint.objects.filter(pk=point_id).values_list("backup_id", flat=True).first()
    )
    if backup_id is None:
        raise CommandError(
            f"status=refused reason=unknown_recovery_point recovery_point={point_id}"
        )
    return backup_id
