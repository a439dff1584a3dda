"""Export of properties as CSV / XLSX / JSON, through the access gateway, and what an export is
called: its file name and its spreadsheet's sheet name."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import slugify
from import_export.formats.base_formats import CSV, JSON, XLSX

from organizations.access import Scope
from organizations.models import Organization

from .models import Project
from .resources import PropertyExportResource
from .selectors import property_list

EXPORT_PERMISSION = "properties.export_property"
FORMATS = {"csv": CSV, "xlsx": XLSX, "json": JSON}


def property_export(*, actor, project: Project | None = None, file_format: str = "csv"):
    """The properties the actor may export (of one project, or all they see) as CSV / XLSX /
    JSON bytes or text, with spreadsheet formulas neutralised. Another organisation's project
    is refused with `AccessDenied`."""
    if file_format not in FORMATS:
        raise ValidationError(f"format must be one of {', '.join(FORMATS)}.")
    scope = Scope.of(actor)
    scope.require(EXPORT_PERMISSION, organization=project.organization_id if project else None)
    queryset = property_list(actor=scope, project=project).select_related("project")
    dataset = PropertyExportResource().export(
        queryset=queryset.order_by("id"), force_native_type=file_format != "csv"
    )
    organization = project.organization if project else scope.organization
    dataset.title = export_sheet_title(organization=organization, project=project)
    return FORMATS[file_format]().export_data(dataset)


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
