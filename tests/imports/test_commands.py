import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from imports.models import ImportJob
from properties.models import Property
from tests.factories import PropertyFactory

from .conftest import csv_bytes, valid_row

FIXTURE = Path(__file__).parent.parent / "fixtures" / "melbourne_housing_sample.csv"
SUMMARY = re.compile(
    r"^import=(\d+) status=(\w+) total=(\d+) created=(\d+) updated=(\d+) skipped=(\d+) "
    r"rejected=(\d+) rows_per_s=(\d+) finished_at=\S+ tz=[\w/]+$"
)


def import_file(path, project, *args):
    out = io.StringIO()
    call_command("import_properties", str(path), "--project", str(project.pk), *args, stdout=out)
    return out.getvalue().strip()


def test_import_prints_one_parsable_summary_line(project, tenants):
    line = import_file(FIXTURE, project, "--user", tenants.manager.username)
    match = SUMMARY.match(line)
    assert match, line
    job = ImportJob.objects.get(pk=match.group(1))
    assert match.groups()[1:7] == ("completed", "20", "20", "0", "0", "0")
    assert job.user == tenants.manager
    history = Property.history.filter(project=project)
    assert history.count() == 20
    assert set(history.values_list("history_change_reason", flat=True)) == {f"import {job.pk}"}


def test_rejected_rows_still_exit_zero_and_write_the_errors_csv(project, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(valid_row(1), valid_row(2, state="XX")))
    errors = tmp_path / "errors.csv"
    line = import_file(source, project, "--errors-csv", str(errors), "--batch-size", "1")
    assert " status=completed_with_errors " in line and " rejected=1 " in line
    assert "state: must be one of ACT" in errors.read_text(encoding="utf-8-sig")


def test_dry_run_writes_nothing(project, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(valid_row(1)))
    line = import_file(source, project, "--dry-run")
    assert " created=1 " in line
    assert not Property.objects.exists() and not Property.history.exists()


def test_on_duplicate_update(project, tmp_path):
    PropertyFactory(project=project, external_id="P-0001")
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(valid_row(1)))
    line = import_file(source, project, "--on-duplicate", "update")
    assert " updated=1 " in line
    assert Property.objects.get().basic_info["address"] == "1 Chapel Street"


def test_refused_file_exits_non_zero_with_the_summary_and_reason(project, tmp_path):
    source = tmp_path / "empty.csv"
    source.write_bytes(b"")
    out = io.StringIO()
    with pytest.raises(CommandError, match="The file is empty"):
        call_command("import_properties", str(source), "--project", str(project.pk), stdout=out)
    assert " status=failed " in out.getvalue()


def test_no_valid_row_exits_non_zero(project, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_bytes(csv_bytes(valid_row(1, postcode="1")))
    with pytest.raises(CommandError, match="No valid row"):
        import_file(source, project)


def test_project_of_another_organisation_is_refused(other_project, tenants, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(valid_row(1)))
    with pytest.raises(CommandError, match="No project with id"):
        import_file(source, other_project, "--user", tenants.manager.username)
    assert not ImportJob.objects.exists() and not Property.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--project", "999999"], "No project with id 999999"), (["--user", "nobody"], "No user")],
)
def test_unknown_project_or_user(project, tmp_path, args, message):
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes(valid_row(1)))
    full = ["--project", str(project.pk), *args] if "--user" in args else args
    with pytest.raises(CommandError, match=message):
        call_command("import_properties", str(source), *full, stdout=io.StringIO())


def test_missing_file(project):
    with pytest.raises(CommandError, match="No such file"):
        import_file("/nonexistent/file.csv", project)


def test_export_csv_to_stdout_is_scoped_to_the_project(project, other_project):
    PropertyFactory(project=project, external_id="MINE")
    PropertyFactory(project=other_project, external_id="THEIRS")
    out, err = io.StringIO(), io.StringIO()
    call_command("export_properties", "--project", str(project.pk), stdout=out, stderr=err)
    assert "MINE" in out.getvalue() and "THEIRS" not in out.getvalue()
    assert err.getvalue().startswith(f"export project={project.pk} format=csv rows=1 ")


def test_export_json_and_xlsx_to_files_neutralise_formulas(project, tmp_path):
    PropertyFactory(project=project, external_id="=1+1")
    target = tmp_path / "out.json"
    out = io.StringIO()
    call_command(
        "export_properties",
        "--project",
        str(project.pk),
        "--format",
        "json",
        "-o",
        str(target),
        stdout=out,
    )
    assert "rows=1" in out.getvalue()
    row = json.loads(target.read_text())[0]
    assert row["external_id"] == "'=1+1" and row["estimated_value"] == 850000
    xlsx = tmp_path / "out.xlsx"
    call_command(
        "export_properties",
        "--project",
        str(project.pk),
        "--format",
        "xlsx",
        "-o",
        str(xlsx),
        stdout=io.StringIO(),
    )
    sheet = load_workbook(xlsx).active
    assert sheet["A2"].value == "'=1+1"


def test_export_xlsx_needs_an_output_file(project):
    with pytest.raises(CommandError, match="give an output file"):
        call_command("export_properties", "--project", str(project.pk), "--format", "xlsx")
