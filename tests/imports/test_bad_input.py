"""Every bad input of the issue: a clear message, nothing half-written, every row counted."""

import io
import json

import pytest
from openpyxl import Workbook

from imports.models import ImportJob
from properties.models import Property

from .conftest import HEADER, csv_bytes, run_import, valid_row


def assert_refused(job, message):
    assert job.status == ImportJob.Status.FAILED
    assert message in job.error_summary
    assert (job.total_rows, job.created_count, job.rejected_count) == (0, 0, 0)
    assert not Property.objects.exists()
    assert not Property.history.exists()


def xlsx_bytes(rows, *, extra_sheet=False, merge=None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    if extra_sheet:
        workbook.create_sheet("Notes")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"\xef\xbb\xbf"])
def test_empty_file_is_refused(project, content):
    assert_refused(run_import(project, content), "The file is empty.")


def test_header_only_is_refused(project):
    assert_refused(run_import(project, csv_bytes()), "header row but no data rows")


def test_binary_file_is_refused(project):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    assert_refused(run_import(project, png, name="photo.csv"), "looks binary")


def test_wrong_encoding_is_refused(project):
    # 0x81 and 0x8D are neither UTF-8 here nor defined in Windows-1252.
    content = csv_bytes(valid_row(1)) + b"P-2,2 Chapel St,Rich\x81\x8dmond,3121,,,,\n"
    assert_refused(run_import(project, content), "neither UTF-8 nor Windows-1252")


def test_windows_1252_file_falls_back_and_keeps_accents(project):
    content = "address,suburb,postcode\n1 Rue Street,Montréal Heights,3000\n".encode("cp1252")
    job = run_import(project, content)
    assert job.status == "completed"
    assert Property.objects.get().basic_info["suburb"] == "Montréal Heights"


def test_utf8_with_bom_and_semicolons_and_tabs_are_read(project):
    for delimiter in (";", "\t"):
        header = delimiter.join(["address", "suburb", "post code"])
        line = delimiter.join(["12 Ocean Drive", "Saint-Kilda", "3182"])
        text = f"{header}\n{line}\n"
        job = run_import(project, b"\xef\xbb\xbf" + text.encode(), on_duplicate="update")
        assert job.status == "completed", job.error_summary
    assert Property.objects.get().basic_info["address"] == "12 Ocean Drive"


def test_unterminated_quote_is_refused_naming_the_row(project):
    content = csv_bytes(valid_row(1), 'P-2,"2 Chapel St,Richmond,3121,VIC,1,1,"1,1"', valid_row(3))
    job = run_import(project, content)
    assert_refused(job, "Row 3")
    assert "quote" in job.error_summary


def test_ten_megabyte_field_is_refused(project):
    content = csv_bytes(valid_row(1), valid_row(2, address="x" * 10_000_000))
    job = run_import(project, content)
    assert_refused(job, "a field is longer than")
    assert "Row 3" in job.error_summary


def test_rows_with_too_many_or_too_few_columns_are_rejected_not_guessed(project):
    content = csv_bytes(
        valid_row(1), valid_row(2) + ",surplus", "P-3,3 Chapel St,Richmond", valid_row(4)
    )
    job = run_import(project, content)
    assert (job.created_count, job.rejected_count) == (2, 2)
    report = job.rejected_file.read().decode("utf-8-sig")
    assert "has 9 values but the header has 8 columns (extra values: 'surplus')" in report
    assert "has 3 values but the header has 8 columns" in report


def test_trailing_empty_cells_are_not_extra_columns(project):
    job = run_import(project, csv_bytes(valid_row(1) + ",,"))
    assert (job.created_count, job.rejected_count) == (1, 0)


def test_file_with_no_valid_row_fails_with_every_row_reported(project):
    job = run_import(project, csv_bytes(valid_row(1, postcode="1"), valid_row(2, suburb="9")))
    assert job.status == ImportJob.Status.FAILED
    assert (job.total_rows, job.rejected_count) == (2, 2)
    assert "No valid row" in job.error_summary
    assert len(job.rejected_file.read().decode("utf-8-sig").splitlines()) == 3
    assert not Property.objects.exists()


def test_missing_required_column_is_refused_naming_it(project):
    job = run_import(project, csv_bytes("1 Chapel St,3121", header="address,postcode"))
    assert_refused(job, "missing the required column: suburb")


def test_blank_lines_are_not_rows(project):
    job = run_import(project, csv_bytes(valid_row(1), "", ",,,,,,,", valid_row(2)))
    assert (job.total_rows, job.created_count) == (2, 2)


def test_xlsx_imports_with_spreadsheet_numbers(project):
    content = xlsx_bytes(
        [
            ["Address", "Suburb", "Postcode", "Price", "Lattitude", "Longtitude"],
            ["85 Turner St", "Abbotsford", 3067.0, 1480000.0, -37.7996, 144.9984],
            [None, None, None, None, None, None],
            ["1 X", "Abbotsford", 3067, None, None, None],
        ]
    )
    job = run_import(project, content, name="melbourne.xlsx")
    assert (job.file_format, job.created_count, job.rejected_count) == ("xlsx", 1, 1)
    prop = Property.objects.get()
    assert prop.basic_info["postcode"] == "3067"
    assert prop.financial_metrics == {"estimated_value": 1480000}
    assert "row,errors" in job.rejected_file.read().decode("utf-8-sig")


def test_xlsx_with_several_sheets_is_refused(project):
    content = xlsx_bytes(
        [["address", "suburb", "postcode"], ["1 Chapel St", "Kew", 3101]], extra_sheet=True
    )
    job = run_import(project, content, name="book.xlsx")
    assert_refused(job, "The workbook has 2 sheets (Sheet, Notes)")


def test_xlsx_with_merged_cells_is_refused(project):
    content = xlsx_bytes(
        [
            ["address", "suburb", "postcode"],
            ["1 Chapel St", "Kew", 3101],
            ["2 Chapel St", "Kew", 3101],
        ],
        merge="B2:B3",
    )
    assert_refused(run_import(project, content, name="book.xlsx"), "merged cells")


def test_damaged_xlsx_is_refused(project):
    assert_refused(run_import(project, b"PK\x03\x04broken", name="a.xlsx"), "not a readable Excel")
    assert_refused(run_import(project, b"address\n", name="a.xlsx"), "not an Excel workbook")


def test_json_list_of_objects_imports(project):
    rows = [
        {
            "propertyId": "J-1",
            "Address": "1 Chapel St",
            "Suburb": "Kew",
            "Postcode": 3101,
            "Price": 900000,
        },
        {"propertyId": "J-2", "Address": "2 Chapel St", "Suburb": "Kew", "Postcode": "31"},
        "not an object",
        {"propertyId": "J-3", "Address": "3 Chapel St", "Suburb": ["Kew"], "Postcode": "3101"},
    ]
    job = run_import(project, json.dumps(rows).encode(), name="rows.json")
    assert (job.file_format, job.created_count, job.rejected_count) == ("json", 1, 3)
    assert Property.objects.get().financial_metrics == {"estimated_value": 900000}
    report = job.rejected_file.read().decode("utf-8-sig")
    assert "is a str, not an object" in report
    assert "must be a plain value" in report


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"address": "1 Chapel St"}', "must be a list of objects"),
        (b"[1, 2", "not valid JSON"),
        (b"[]", "has no rows"),
    ],
)
def test_bad_json_is_refused(project, content, message):
    assert_refused(run_import(project, content, name="rows.json"), message)


def test_old_excel_format_is_refused_with_advice(project):
    assert_refused(
        run_import(project, b"\xd0\xcf\x11\xe0", name="old.xls"), "save the sheet as XLSX"
    )


def test_header_constant_matches_the_helper():
    assert HEADER.count(",") == valid_row(1).count(",") - 1  # coordinates hold one quoted comma


def test_utf16_unicode_text_export_is_read(project):
    text = "address\tsuburb\tpostcode\r\n12 Rue Street\tSaint-Étienne Heights\t3000\r\n"
    job = run_import(project, text.encode("utf-16"), name="export.txt")
    assert job.status == "completed", job.error_summary
    assert Property.objects.get().basic_info["suburb"] == "Saint-Étienne Heights"
