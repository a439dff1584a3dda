"""What an export of properties is called: its file name and its spreadsheet's sheet name."""

from datetime import datetime

from django.utils import timezone
from django.utils.text import slugify

from organizations.models import Organization

from .models import Project


def export_file_name(
    *,
    organization: Organization | None,
    project: Project | None,
    extension: str,
    moment: datetime | None = None,
) -> str:
    """`<org>-<project>-<date>.<ext>`: the organisation's slug, the project's name slugified
    (`all-projects` without one) and the date on the organisation's clock."""
    moment = moment or timezone.now()
    if organization is None:
        org_part, day = "all-organisations", timezone.localtime(moment).date()
    else:
        org_part, day = organization.slug, organization.local_time(moment).date()
    if project is None:
        project_part = "all-projects"
    else:
        project_part = slugify(project.name) or f"project-{project.pk}"
    return f"{org_part}-{project_part}-{day:%Y-%m-%d}.{extension}"


def export_sheet_title(*, organization: Organization | None, project: Project | None) -> str:
    """The sheet's name in an XLSX export (the spreadsheet shortens it to 31 characters)."""
    if project is not None:
        return project.name
    return f"{organization.name} properties" if organization else "Properties"
