"""Large runs validate in a forked process, as large imports do (imports.pipeline.prefetch):
the same counts, writes and provenance as inline, and no validator outlives the run."""

import pytest

from imports.pipeline.prefetch import LIVE_VALIDATORS
from organizations.access import AccessDenied
from properties.models import Property
from sources.models import SourceRecord, SyncRun

from .helpers import ckan_source, counts, file_source, history_reasons, sync
from .portal import make_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def forked(settings):
    settings.SYNC_PROCESS_THRESHOLD = 1
    settings.SYNC_PAGE_SIZE = 4


def test_ckan_pages_are_fetched_and_classified_in_a_forked_validator(
    tenants, project, portal, forked
):
    records = [make_record(n) for n in range(1, 11)]
    records[8] = make_record(9, postcode="31")
    portal.load(records)
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)

    run = sync(source, tenants.admin)

    assert run.status == SyncRun.Status.COMPLETED_WITH_ERRORS, run.error
    assert counts(run) == {
        "fetched": 10,
        "created": 9,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "vanished": 0,
    }
    assert run.rejected_records.get().errors == ["postcode: must be exactly 4 digits, got '31'"]
    assert history_reasons(project) == [f"sync {run.pk}"] * 9
    assert SourceRecord.objects.filter(source=source, property__isnull=False).count() == 9
    # The validator's requests are the run's: resource, package, fields, three pages and more.
    assert run.requests >= 6 and run.bytes_received > 0
    assert run.cursor["after_id"] == 10
    assert not LIVE_VALIDATORS

    records[2] = make_record(3, valuation=777_000)
    portal.load(records)
    again = sync(source, tenants.admin)

    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 1, 8, 1)
    assert (
        Property.objects.get(external_id="PFI0000003").financial_metrics["estimated_value"]
        == 777_000
    )


def test_a_portal_failing_mid_pass_in_the_validator_fails_the_run_and_keeps_the_cursor(
    tenants, project, portal, forked
):
    portal.load([make_record(n) for n in range(1, 11)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    portal.fail("datastore_search", status=500, times=10, after_id=4)

    run = sync(source, tenants.admin)

    assert run.status == SyncRun.Status.FAILED
    assert run.created == 8 and run.cursor["after_id"] == 8
    assert not LIVE_VALIDATORS


def test_file_rows_are_classified_in_a_forked_validator(tenants, project, portal, forked):
    header = "Property ID,Street Address,Suburb,Postcode,Price\n"
    rows = "".join(f"MEL{n:05d},{n} Chapel Street,Richmond,3121,{900000 + n}\n" for n in range(30))
    portal.publish("sales.csv", (header + rows).encode(), etag='"v1"')
    source = file_source(
        actor=tenants.admin, project=project, portal=portal, file_name="sales.csv", name="Sales"
    )

    run = sync(source, tenants.admin)

    assert (run.status, run.created) == (SyncRun.Status.COMPLETED, 30), run.error
    assert not LIVE_VALIDATORS


def test_an_outsider_cannot_sync_a_source_of_another_organisation(tenants, project, portal):
    portal.load([make_record(1)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    with pytest.raises(AccessDenied):
        sync(source, tenants.outsider)
    assert not Property.objects.exists()
