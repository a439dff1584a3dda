"""Records kept with a warning (a rule of warning severity, such as the value per m² of land):
written, counted `warned` on every run, listed with their warnings in the run's CSV and on its
page, as an import's report lists them; the organisation's severities apply. Outsiders see
none of it."""

import csv
import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from properties.models import Property
from sources.models import SourceRecord, SyncRejectedRecord, SyncRun
from sources.services import run_rejected_csv

from .helpers import ckan_source, file_source, history_reasons, sync
from .portal import FIELDS, make_record

pytestmark = pytest.mark.django_db

# 650,020 on 10 m² is 65,002 per m², above the default bound of 10,000: a warning.
WARNED = {"land_area_m2": 10}
WARNING = "landarea: 650,020 on 10 m² is 65,002.00 per m², outside 10–10,000; check the land area"


def _records():
    return [make_record(1), make_record(2, **WARNED), make_record(3)]


def _csv_rows(run):
    return list(csv.DictReader(io.StringIO(run_rejected_csv(run=run))))


def test_a_record_with_a_warning_is_written_counted_and_listed(
    tenants, project, portal, validation
):
    portal.load(_records())
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)

    run = sync(source, tenants.admin)

    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert (run.fetched, run.created, run.rejected, run.warned) == (3, 3, 0, 1)
    assert Property.objects.get(external_id="PFI0000002").planning_controls["land_area"] == 10
    stored = SyncRejectedRecord.objects.get(run=run)
    assert (stored.number, stored.errors, stored.warnings) == (2, [], [WARNING])
    (row,) = _csv_rows(run)
    assert (row["property_pfi"], row["record"], row["errors"]) == ("PFI0000002", "2", "")
    assert row["warnings"] == WARNING
    # A plain number (a negative latitude) is not taken for a formula.
    assert row["latitude"] == str(make_record(2)["latitude"])
    # The source's fields in the source's order, then the record number, errors and warnings.
    assert list(row) == [field["id"] for field in FIELDS] + ["record", "errors", "warnings"]


def test_an_unchanged_resync_counts_the_warning_again_and_writes_nothing(
    tenants, project, portal, validation
):
    portal.load(_records())
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    first = sync(source, tenants.admin)

    again = sync(source, tenants.admin)

    assert (again.created, again.updated, again.unchanged, again.warned) == (0, 0, 3, 1)
    assert history_reasons(project) == [f"sync {first.pk}"] * 3
    assert set(SourceRecord.objects.values_list("changed_run", flat=True)) == {first.pk}
    assert [row["warnings"] for row in _csv_rows(again)] == [WARNING]


def test_the_organisations_severity_makes_the_warning_an_error(tenants, project, portal):
    portal.load(_records())
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    sync(source, tenants.admin)
    organization = tenants.owner_org
    organization.settings = {**(organization.settings or {}), "value_per_m2_severity": "error"}
    organization.save()

    run = sync(source, tenants.admin)

    assert run.status == SyncRun.Status.COMPLETED_WITH_ERRORS
    assert (run.unchanged, run.rejected, run.warned, run.vanished) == (2, 1, 0, 0)
    assert SyncRejectedRecord.objects.get(run=run).errors == [WARNING]
    # Refused now, but still in the source: its property is kept as it was.
    assert Property.objects.filter(external_id="PFI0000002", status="active").exists()


def test_a_file_source_lists_its_warned_rows(tenants, project, portal):
    body = (
        "Property ID,Street Address,Suburb,Postcode,Price,Land Area\n"
        "MEL1,1 Chapel Street,Richmond,3121,900000,450\n"
        "MEL2,2 Chapel Street,Richmond,3121,900000,5\n"
    )
    portal.publish("sales.csv", body.encode(), etag='"v1"')
    source = file_source(
        actor=tenants.admin, project=project, portal=portal, file_name="sales.csv", name="Sales"
    )

    run = sync(source, tenants.admin)

    assert (run.status, run.created, run.warned) == (SyncRun.Status.COMPLETED, 2, 1)
    (row,) = _csv_rows(run)
    assert row["Property ID"] == "MEL2" and "180,000.00 per m²" in row["warnings"]


def test_the_run_page_and_the_command_show_the_warned_records(client, tenants, project, portal):
    portal.load(_records())
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    out = io.StringIO()
    call_command("sync_source", str(source.pk), stdout=out)
    run = source.runs.get()
    assert " rejected=0 warned=1 vanished=0 " in out.getvalue()

    client.force_login(tenants.admin)
    page = client.get(reverse("admin:sources_syncrun_change", args=[run.pk])).content.decode()
    assert "Download the 1 records kept with warnings (CSV)" in page
    download = client.get(reverse("admin:sources_syncrun_rejected", args=[run.pk]))
    assert download.status_code == 200 and WARNING in download.content.decode()
    listing = client.get(reverse("admin:sources_syncrun_changelist")).content.decode()
    assert 'class="field-warned">1<' in listing


def test_an_outsider_sees_no_warned_record(client, tenants, project, portal):
    portal.load(_records())
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    run = sync(source, tenants.admin)

    client.force_login(tenants.outsider)

    download = client.get(reverse("admin:sources_syncrun_rejected", args=[run.pk]))
    assert download.status_code in (403, 404)
    assert "PFI0000002" not in download.content.decode()
    assert client.get(reverse("admin:sources_syncrun_change", args=[run.pk])).status_code == 404
    listing = client.get(reverse("admin:sources_syncrun_changelist"))
    assert str(run) not in listing.content.decode()
