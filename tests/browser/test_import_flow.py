"""Flow 1: a manager uploads a CSV with some bad rows, reads the preview with the rejections and
their reasons, confirms, sees the job finish and downloads the rejected rows."""

import csv
import io

from playwright.sync_api import expect

from imports.models import ImportJob
from properties.models import Property

from .conftest import open_from_index

# Five rows, far below IMPORT_BACKGROUND_THRESHOLD_ROWS, so the preview and the import run in
# the request: the flow needs no cluster. Row numbers are as in the file (the header is row 1).
SALES_CSV = """propertyid,address,suburb,postcode,state,estimated value,land area
MEL-001,12 Wellington Street,Collingwood,3066,VIC,1250000,220
MEL-002,8 Smith Street,Fitzroy,3065,VIC,980000,180
MEL-003,3 Gertrude Street,Fitzroy,30,VIC,1100000,150
MEL-004,41 Johnston Street,Abbotsford,3067,VIC,870000,160
MEL-005,,Carlton,3053,VIC,1500000,300
"""


def test_manager_imports_a_file_with_bad_rows_and_downloads_the_rejected_ones(
    estate, log_in_as, snapshot
):
    page = log_in_as(estate.manager)
    # The start page: the product and the manager's organisation in the header, Data health.
    expect(page.locator("#site-name")).to_contain_text("Property data platform")
    expect(page.locator("#site-organization")).to_contain_text(estate.harbour.name)
    expect(page.locator("#integrity-dashboard")).to_be_visible()
    snapshot(page, "admin-index")
    open_from_index(page, "property", "Properties")
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("Project").select_option(label=estate.project.name)
    page.get_by_label("File").set_input_files(
        {"name": "melbourne-sales.csv", "mimeType": "text/csv", "buffer": SALES_CSV.encode()}
    )
    page.get_by_role("button", name="Preview").click()

    totals = page.locator("#import-totals")
    expect(totals.locator("td.new")).to_have_text("3")
    expect(totals.locator("td.reject")).to_have_text("2")
    rejected = page.locator("#rejected-rows tbody tr")
    expect(rejected).to_have_count(2)
    expect(rejected.nth(0)).to_contain_text("4")
    expect(rejected.nth(0)).to_contain_text("postcode")
    expect(rejected.nth(0)).to_contain_text("4 digits")
    expect(rejected.nth(1)).to_contain_text("6")
    expect(rejected.nth(1)).to_contain_text("address")
    # The file's columns in file order, each with where it went.
    columns = page.locator("#columns-read tbody tr")
    expect(columns).to_have_count(7)
    expect(columns.nth(5)).to_contain_text("estimated value")
    expect(columns.nth(5)).to_contain_text("financial_metrics.estimated_value")
    snapshot(page, "import-preview")
    assert not Property.objects.filter(external_id__startswith="MEL-").exists()

    page.get_by_role("button", name="Confirm import").click()
    expect(page.locator(".messagelist")).to_contain_text("3 created, 0 updated, 0 skipped")
    expect(page.locator("#import-status")).to_have_text("Completed with errors")
    expect(page.locator("#import-percent")).to_have_text("100.0%")
    snapshot(page, "import-job")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the rejected rows, with their errors (CSV)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    assert [row["propertyid"] for row in rows] == ["MEL-003", "MEL-005"]
    assert "postcode" in rows[0]["errors"] and "address" in rows[1]["errors"]

    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.COMPLETED_WITH_ERRORS and job.user == estate.manager
    assert (job.created_count, job.rejected_count) == (3, 2)
    imported = Property.objects.filter(external_id__startswith="MEL-")
    assert sorted(imported.values_list("external_id", flat=True)) == [
        "MEL-001",
        "MEL-002",
        "MEL-004",
    ]
    assert {prop.organization_id for prop in imported} == {estate.harbour.pk}
