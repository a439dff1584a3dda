"""Export of properties as CSV / XLSX / JSON, through the access gateway."""

from django.core.exceptions import ValidationError
from import_export.formats.base_formats import CSV, JSON, XLSX

from organizations.access import Scope

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
    return FORMATS[file_format]().export_data(dataset)
