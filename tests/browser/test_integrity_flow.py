"""Flow 3: a manager runs the integrity checks, opens the report and follows a check's link to
the changelist filtered to exactly the rows it found."""

from playwright.sync_api import expect

from integrity.models import DataIntegrityReport
from tests.factories import PropertyFactory

from .conftest import open_from_index


def test_manager_runs_the_checks_and_follows_a_check_to_its_rows(estate, log_in_as, snapshot):
    unrealistic = [
        PropertyFactory(
            project=estate.project,
            external_id=f"HPA-VAL-{n}",
            basic_info={
                "address": f"{n} Rowena Parade",
                "suburb": "Richmond",
                "state": "VIC",
                "postcode": "3121",
            },
            financial_metrics={"estimated_value": value},
        )
        for n, value in ((1, -5), (2, 500))
    ]
    # The same defect in the other organisation is not Harbour's to see.
    PropertyFactory(project=estate.other_project, financial_metrics={"estimated_value": -1})

    page = log_in_as(estate.manager)
    open_from_index(page, "dataintegrityreport", "Data integrity reports")
    page.get_by_role("button", name="Run checks now").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Checks started for Harbour Property Analytics"
    )
    reports = page.locator("#result_list tbody tr")
    expect(reports).to_have_count(1)
    reports.first.get_by_role("link").first.click()

    check = page.locator("#check-unrealistic_value")
    expect(check.locator("td").nth(2)).to_have_text("2")
    expect(page.locator("#check-missing_address td").nth(2)).to_have_text("0")
    snapshot(page, "integrity-report")
    check.get_by_role("link", name="View rows").click()

    expect(page.locator("#content h1")).to_contain_text("property")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text("1 Rowena Parade")
    expect(page.locator("#result_list")).to_contain_text("2 Rowena Parade")
    expect(page.locator("#changelist-filter")).to_contain_text("Unrealistic estimated value")

    report = DataIntegrityReport.objects.get()
    assert report.organization == estate.harbour
    assert report.trigger == DataIntegrityReport.Trigger.ADMIN
    counts = {result["slug"]: result["count"] for result in report.check_results}
    assert counts["unrealistic_value"] == len(unrealistic) == 2
    assert counts["missing_address"] == 0
