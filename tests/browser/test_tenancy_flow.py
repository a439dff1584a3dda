"""Flow 5: a manager of the other organisation sees none of Harbour's properties, imports,
backups and reports, neither by navigating nor by typing their addresses."""

import io

import pytest
from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from backups.services.backup import backup_create
from imports.models import ImportJob
from imports.services.jobs import import_job_create, import_run
from integrity.services.reports import integrity_report_create
from properties.models import Property

from .conftest import open_from_index

HARBOUR_CSV = b"""propertyid,address,suburb,postcode,state
HPA-900,9 Lennox Street,Richmond,3121,VIC
HPA-901,1 Bad Row,Richmond,31,VIC
"""


def typed_address_status(page, address: str):
    """The HTTP status of typing `address` into the browser ("downloaded" for a file)."""
    try:
        return page.goto(address).status
    except PlaywrightError as exc:
        if "Download is starting" in str(exc):
            return "downloaded"
        raise


@pytest.fixture
def harbour_records(estate):
    job = import_job_create(
        actor=estate.manager,
        project=estate.project,
        file=io.BytesIO(HARBOUR_CSV),
        file_name="harbour.csv",
    )
    job = import_run(job=job, actor=estate.manager)
    assert job.rejected_file  # so that its download address exists
    return {
        "job": job,
        "backup": backup_create(organization=estate.harbour, actor=estate.manager),
        "report": integrity_report_create(organization=estate.harbour, actor=estate.manager),
    }


def test_outsider_sees_none_of_harbours_records_by_navigation(estate, harbour_records, log_in_as):
    page = log_in_as(estate.outsider)
    panel = page.locator("#integrity-dashboard")
    expect(panel).to_contain_text("Southern Cross Valuers")
    expect(panel).not_to_contain_text("Harbour")

    open_from_index(page, "property", "Properties")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("1 Macquarie Street")
    expect(page.locator("#changelist-filter")).not_to_contain_text(estate.project.name)
    page.locator("#searchbar").fill("Chapel Street")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list")).to_have_count(0)

    open_from_index(page, "project", "Projects")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text(estate.other_project.name)

    # Southern Cross has no imports, backups or reports yet: the lists are empty.
    for model, name in (
        ("importjob", "Import jobs"),
        ("backupexecution", "Backup executions"),
        ("dataintegrityreport", "Data integrity reports"),
    ):
        open_from_index(page, model, name)
        expect(page.locator("#content")).not_to_contain_text("Harbour")
        expect(page.locator("#content")).not_to_contain_text("Inner Melbourne")
        expect(page.locator("#result_list")).to_have_count(0)


def test_outsider_typing_harbours_addresses_gets_not_found(estate, harbour_records, log_in_as):
    prop, job = estate.properties[0], harbour_records["job"]
    backup, report = harbour_records["backup"], harbour_records["report"]
    addresses = [
        reverse("admin:properties_property_change", args=[prop.pk]),
        reverse("admin:properties_property_history", args=[prop.pk]),
        reverse("admin:properties_property_delete", args=[prop.pk]),
        reverse("admin:properties_project_change", args=[estate.project.pk]),
        reverse("admin:imports_importjob_change", args=[job.pk]),
        reverse("admin:imports_importjob_preview", args=[job.pk]),
        reverse("admin:imports_importjob_rejected", args=[job.pk]),
        reverse("admin:backups_backupexecution_change", args=[backup.pk]),
        reverse("admin:backups_backupexecution_download", args=[backup.pk]),
        reverse("admin:integrity_dataintegrityreport_change", args=[report.pk]),
    ]
    page = log_in_as(estate.outsider)
    answers = {}
    for address in addresses:
        answers[address] = typed_address_status(page, address)
        expect(page.locator("body")).not_to_contain_text("Chapel Street")
    assert answers == dict.fromkeys(addresses, 404)

    # Harbour's records are as they were, and the outsider is on none of their histories.
    assert Property.objects.get(pk=prop.pk).basic_info["address"] == "10 Chapel Street"
    assert not Property.history.filter(history_user=estate.outsider).exists()
    assert not ImportJob.objects.filter(user=estate.outsider).exists()
