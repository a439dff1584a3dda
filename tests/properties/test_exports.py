"""Export files are named `<org>-<project>-<date>.<ext>` on the organisation's clock, and the
XLSX sheet after the project."""

import io
import re
from datetime import UTC, datetime

import openpyxl
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from properties.exports import export_file_name
from tests.factories import ProjectFactory, PropertyFactory

pytestmark = pytest.mark.django_db


def _export(client, file_format: int, project=None):
    url = reverse("admin:properties_property_export")
    if project is not None:
        url += f"?project__id__exact={project.pk}"
    return client.post(
        url,
        {"format": file_format, "resource": 0, "propertyexportresource_external_id": "on"},
    )


def _file_name(response) -> str:
    return re.search(r'filename="([^"]+)"', response["Content-Disposition"])[1]


def test_file_name_is_org_project_and_local_date(tenants):
    project = ProjectFactory(organization=tenants.owner_org, name="Inner West Sales 2026!")
    org = tenants.owner_org
    org.time_zone = "Australia/Perth"
    # 20:00 UTC on 9 March is already 10 March in Perth.
    moment = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
    name = export_file_name(organization=org, project=project, extension="xlsx", moment=moment)
    assert name == "owner-org-inner-west-sales-2026-2026-03-10.xlsx"
    org.time_zone = "UTC"
    assert export_file_name(organization=org, project=None, extension="csv", moment=moment) == (
        "owner-org-all-projects-2026-03-09.csv"
    )


def test_admin_export_is_named_and_sheeted_after_the_project(client, tenants):
    project = ProjectFactory(organization=tenants.owner_org, name="Richmond Sales")
    PropertyFactory(project=project, external_id="OURS")
    other = ProjectFactory(organization=tenants.other_org, name="Their Secret Project")
    PropertyFactory(project=other, external_id="THEIRS")
    client.force_login(tenants.manager)
    today = tenants.owner_org.local_time(timezone.now()).date()

    response = _export(client, 1, project)
    assert response.status_code == 200
    assert _file_name(response) == f"owner-org-richmond-sales-{today:%Y-%m-%d}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Richmond Sales"]
    assert [row[0].value for row in book.active.iter_rows(min_row=2)] == ["OURS"]

    response = _export(client, 0)
    assert _file_name(response) == f"owner-org-all-projects-{today:%Y-%m-%d}.csv"
    # Another organisation's project id names nothing and exports nothing of theirs.
    response = _export(client, 0, other)
    assert "their-secret-project" not in _file_name(response)
    assert b"THEIRS" not in response.content


def test_command_export_sheet_is_the_project(tmp_path, tenants):
    project = ProjectFactory(organization=tenants.owner_org, name="Fitzroy")
    PropertyFactory(project=project)
    path = tmp_path / "out.xlsx"
    call_command(
        "export_properties",
        "--project",
        str(project.pk),
        "--format",
        "xlsx",
        "-o",
        str(path),
        stdout=io.StringIO(),
    )
    assert openpyxl.load_workbook(path).sheetnames == ["Fitzroy"]
