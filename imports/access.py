from django.core.exceptions import PermissionDenied, ValidationError

from organizations.tenancy import organization_for
from properties.models import Project


def check_project_access(*, actor, project: Project | None) -> None:
    """A user acts only on their organisation's projects (no actor: a command or the system)."""
    if project is None:
        raise ValidationError(
            "The project of this import no longer exists (a backup restore removed it)."
        )
    if actor is None or actor.is_superuser:
        return
    organization = organization_for(actor)
    if organization is None or organization.pk != project.organization_id:
        # Same answer as for a missing project: nothing about another tenant leaks.
        raise PermissionDenied(f"No project with id {project.pk} in your organisation.")
