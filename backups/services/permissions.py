"""Who may back up and restore an organisation, asked of the access gateway."""

from django.core.exceptions import ValidationError

from organizations.access import AccessDenied, Scope
from organizations.models import Organization

BACKUP_PERMISSION = "backups.add_backupexecution"
RESTORE_PERMISSION = "backups.restore_backupexecution"


class BackupRefused(ValidationError):
    """A backup or restore that must not run; nothing was changed."""


def require_backup_permission(
    actor,
    organization: Organization,
    *,
    permission: str = BACKUP_PERMISSION,
    allow_cross_org: bool = False,
) -> None:
    """Managers and admins of the organisation may back up and restore it; a superuser only
    with `allow_cross_org`, so acting on a tenant is always a deliberate choice. The system
    (commands without --user, scheduled runs) may."""
    scope = Scope.of(actor)
    if scope.is_system:
        return
    if not (scope.belongs_to(organization) or (scope.sees_all and allow_cross_org)):
        raise BackupRefused(
            f"{actor} is not a member of {organization.slug}; a superuser must ask for a "
            "cross-organisation restore explicitly (--allow-cross-org)."
        )
    try:
        scope.require(permission, organization=organization)
    except AccessDenied as exc:
        raise BackupRefused(
            f"{actor}'s role is below manager: backups need a manager or admin."
        ) from exc
