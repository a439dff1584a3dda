"""One rule for a file that breaks part-way (docs/imports.md): the whole file's structure is
checked before the first row is imported, so nothing of a broken file is stored, and the
admin and `import_properties` refuse it with the same sentence naming the row."""

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from openpyxl import Workbook

from imports.models import ImportJob
from properties.models import Property

from .conftest import HEADER, csv_bytes, valid_row
from .test_admin import upload

pytestmark = pytest.mark.django_db
ROWS = 1200  # more than the batch size the command is given: batches would have committed


def _broken_csv(tmp_path) -> bytes:
    return csv_bytes(*(valid_row(n) for n in range(1, ROWS)), 'P-9,"9 Broken Rd,Kew,3101')


def _truncated_json(tmp_path) -> bytes:
    items = [
        {
            "propertyid": f"J-{n}",
            "address": f"{n} Chapel Street",
            "suburb": "Richmond",
            "postcode": "3121",
            "state": "VIC",
        }  # fmt: skip
        for n in range(1, ROWS)
    ]
    content = json.dumps(items, indent=1).encode()
    return content[: int(len(content) * 0.9)]


def _xlsx(tmp_path, rows: int = ROWS, columns: list | None = None) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Properties")
    sheet.append(columns or HEADER.split(",")[:5])
    for n in range(1, rows):
        sheet.append([f"X-{n}", f"{n} Chapel Street", "Richmond", "3121", "VIC"])
    path = tmp_path / "book.xlsx"
    workbook.save(path)
    return path.read_bytes()


def _xlsx_with_a_cut_sheet(tmp_path) -> bytes:
    """A readable zip whose sheet XML stops part-way (a workbook saved while the disk filled)."""
    source = zipfile.ZipFile(io.BytesIO(_xlsx(tmp_path)))
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                data = data[: int(len(data) * 0.8)]
            target.writestr(info.filename, data)
    return broken.getvalue()


def _xlsx_with_cell(tmp_path, cell: bytes) -> bytes:
    """A well-formed workbook whose cell A1000 is `cell`, a value openpyxl fails on."""
    source = zipfile.ZipFile(io.BytesIO(_xlsx(tmp_path)))
    written = b'<c r="A1000" t="inlineStr"><is><t>X-999</t></is></c>'
    rewritten = io.BytesIO()
    with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                assert written in data
                data = data.replace(written, cell)
            target.writestr(info.filename, data)
    return rewritten.getvalue()


def _truncated_xlsx(tmp_path) -> bytes:
    content = _xlsx(tmp_path)
    return content[: int(len(content) * 0.8)]


BROKEN = {
    "unterminated-quote.csv": (
        _broken_csv,
        f"Row {ROWS + 1:,} (from line {ROWS + 1:,} of the file): a quoted field is never closed",
    ),
    "truncated.json": (_truncated_json, "The file is not valid JSON: "),
    "cut-sheet.xlsx": (_xlsx_with_a_cut_sheet, "The sheet is damaged after row "),
    "truncated.xlsx": (_truncated_xlsx, "not a readable Excel (XLSX) workbook"),
    "text-in-a-number-cell.xlsx": (
        lambda tmp_path: _xlsx_with_cell(tmp_path, b'<c r="A1000" t="n"><v>abc</v></c>'),
        "Row 1,000: cell A1000 holds 'abc', which is not a number; the workbook is damaged, "
        "nothing was imported.",
    ),
    "untyped-text-cell.xlsx": (
        lambda tmp_path: _xlsx_with_cell(tmp_path, b'<c r="A1000"><f>A1</f><v>1x</v></c>'),
        "Row 1,000: cell A1000 holds '1x', which is not a number",
    ),
    "shared-string-past-the-table.xlsx": (
        lambda tmp_path: _xlsx_with_cell(tmp_path, b'<c r="A1000" t="s"><v>7</v></c>'),
        "Row 1,000: cell A1000 refers to shared string '7', but the workbook has 0; the "
        "workbook is damaged, nothing was imported.",
    ),
}


def _command(path, project) -> str:
    with pytest.raises(CommandError) as refused:
        call_command(
            "import_properties", str(path), "--project", str(project.pk), "--batch-size", "100",
            stdout=io.StringIO(),
        )  # fmt: skip
    return str(refused.value)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_file_broken_part_way_is_refused_whole_by_the_command_and_the_admin(
    client, tenants, project, tmp_path, name, run_on_commit
):
    make, sentence = BROKEN[name]
    path = tmp_path / name
    path.write_bytes(make(tmp_path))

    message = _command(path, project)

    assert sentence in message
    assert "stay imported" not in message
    command_job = ImportJob.objects.get()
    assert (command_job.status, command_job.last_committed_row) == (ImportJob.Status.FAILED, 0)
    assert not Property.objects.exists() and not Property.history.exists()

    client.force_login(tenants.manager)
    with run_on_commit():  # a large file previews in a task
        upload(client, project, path.read_bytes(), name=name)
    admin_job = ImportJob.objects.exclude(pk=command_job.pk).get()
    page = client.get(reverse("admin:imports_importjob_preview", args=[admin_job.pk]))
    assert sentence.replace("'", "&#x27;") in page.content.decode()
    assert admin_job.status == ImportJob.Status.FAILED
    assert admin_job.error_summary == command_job.error_summary
    assert not Property.objects.exists()


def test_a_sheet_cut_part_way_names_the_last_whole_row(project, tmp_path):
    path = tmp_path / "cut.xlsx"
    path.write_bytes(_xlsx_with_a_cut_sheet(tmp_path))

    message = _command(path, project)

    rows = int(message.split("after row ")[1].split(" ")[0].replace(",", ""))
    assert 0.7 * ROWS < rows < 0.85 * ROWS  # the sheet's XML was cut at 80%
    assert "nothing was imported" in message


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("wide.csv", lambda tmp: csv_bytes(valid_row(1), header=HEADER + ",a,b,c,d,e,f")),
        (
            "wide.json",
            lambda tmp: json.dumps([{f"column {n}": n for n in range(20)}]).encode(),
        ),
        ("wide.xlsx", lambda tmp: _xlsx(tmp, rows=3, columns=[f"c{n}" for n in range(20)])),
    ],
)
def test_a_file_over_the_column_limit_is_refused(project, tmp_path, settings, name, content):
    settings.IMPORT_MAX_COLUMNS = 10
    path = tmp_path / name
    path.write_bytes(content(tmp_path))

    message = _command(path, project)

    assert "more than IMPORT_MAX_COLUMNS (10)" in message
    assert not Property.objects.exists()


def test_blank_lines_and_empty_trailing_cells_do_not_count_toward_the_limits(
    project, tmp_path, settings
):
    settings.IMPORT_MAX_ROWS, settings.IMPORT_MAX_COLUMNS = 5, 10
    rows = [valid_row(n) + ",,,,,," for n in range(1, 6)]  # 14 cells, 8 of them values
    path = tmp_path / "padded.csv"
    path.write_bytes(csv_bytes(*rows, "", ",,,,", "\n\n"))

    call_command("import_properties", str(path), "--project", str(project.pk), stdout=io.StringIO())

    assert Property.objects.filter(project=project).count() == 5
    # One more row with a value is over the limit.
    path.write_bytes(csv_bytes(*rows, valid_row(6), ",,,,"))
    assert "more than 5 data rows (IMPORT_MAX_ROWS)" in _command(path, project)


@pytest.mark.parametrize("name", ["long.csv", "long.json", "long.xlsx"])
def test_a_file_over_the_row_limit_is_refused(project, tmp_path, settings, name):
    settings.IMPORT_MAX_ROWS = 50
    content = {
        "long.csv": lambda: csv_bytes(*(valid_row(n) for n in range(1, 60))),
        "long.json": lambda: json.dumps([{"propertyid": n} for n in range(60)]).encode(),
        "long.xlsx": lambda: _xlsx(tmp_path, rows=60),
    }[name]()
    path = tmp_path / name
    path.write_bytes(content)

    message = _command(path, project)

    assert "more than 50 data rows (IMPORT_MAX_ROWS)" in message
    assert not Property.objects.exists()


def test_an_outsider_sees_no_preview_of_the_refused_file(client, tenants, project, tmp_path):
    client.force_login(tenants.manager)
    upload(client, project, _broken_csv(tmp_path))
    job = ImportJob.objects.get()
    client.force_login(tenants.outsider)

    response = client.get(reverse("admin:imports_importjob_preview", args=[job.pk]))

    assert response.status_code == 404


def test_a_cell_openpyxl_fails_on_after_the_checks_stops_the_import_with_a_sentence(
    project, tmp_path
):
    # A date cell is not checked up front; openpyxl's own error becomes the reader's refusal.
    path = tmp_path / "bad-date.xlsx"
    path.write_bytes(_xlsx_with_cell(tmp_path, b'<c r="A1000" t="d"><v>not a date</v></c>'))

    message = _command(path, project)

    assert "Row 1,000: a cell value cannot be read (ValueError" in message
    assert "unexpected error" not in message
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    # The batches before the bad row's stay imported and the job can resume after them.
    assert Property.objects.count() == job.last_committed_row == 900
    assert "stay imported" in message
