from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from organizations.models import Organization

from ...models import BackupExecution, RecoveryPoint
from ...services.permissions import BackupRefused


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


def refused(exc: BackupRefused, subject: str = "") -> CommandError:
    """The one line a command ends with when the service refuses: `subject`, as `key=value `,
    then the status and the service's sentence."""
    return CommandError(f"{subject}status=refused reason={quoted(exc.messages[0])}")


def restore_totals(restore, keys) -> dict[str, int]:
    """Each of `keys` (inserted, updated, ...) summed over the restore's tables."""
    return {key: sum(table.get(key, 0) for table in restore.counts.values()) for key in keys}


def recovery_point_backup_id(point_id: int) -> int:
    backup_id = (
        RecoveryPoint.objects.filter(pk=point_id).values_list("backup_id", flat=True).first()
    )
    if backup_id is None:
        raise CommandError(
            f"status=refused reason=unknown_recovery_point recovery_point={point_id}"
        )
    return backup_id
