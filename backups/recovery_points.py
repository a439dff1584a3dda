"""Recovery points: named full backups an organisation can come back to."""

from django.db import transaction

from organizations.models import Organization

from .models import BackupExecution, BackupType, RecoveryPoint
from .services.backup import backup_create
from .services.permissions import BackupRefused


def recovery_point_create(
    *, organization: Organization, description: str, actor=None
) -> RecoveryPoint:
    """Takes a full backup of the organisation and names it. Refused (BackupRefused) when the
    description is empty, the actor may not back up the organisation, or the backup fails."""
    description = (description or "").strip()
    if not description:
        raise BackupRefused("A recovery point needs a description, e.g. 'before the reload'.")
    backup = backup_create(organization=organization, actor=actor, backup_type=BackupType.FULL)
    if backup.status != BackupExecution.Status.COMPLETED:
        raise BackupRefused(
            f"The recovery point's backup {backup.pk} failed: {backup.error_message}"
        )
    with transaction.atomic():
        return RecoveryPoint.objects.create(
            organization=organization, description=description, backup=backup, created_by=actor
        )
