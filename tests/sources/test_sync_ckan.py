"""CKAN datastore syncs against a real HTTP server speaking the Action API."""

import pytest

from properties.models import Property
from sources.models import SourceRecord, SyncRun

from .helpers import ckan_source, counts, history_reasons, sync
from .portal import make_record


@pytest.fixture(params=["orm", "copy"])
def writer(request, settings):
    """Both import writers: COPY runs on PostgreSQL only."""
    if request.param == "copy":
        request.getfixturevalue("on_postgres")
    settings.IMPORT_WRITER = request.param
    return request.param


@pytest.mark.django_db
class TestFirstAndRepeatSync:
    def test_first_sync_creates_properties_with_provenance_and_sync_history(
        self, tenants, project, portal, writer
    ):
        portal.load([make_record(n) for n in range(1, 26)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED, run.error
        assert counts(run) == {
            "fetched": 25,
            "created": 25,
            "updated": 0,
            "unchanged": 0,
            "rejected": 0,
            "vanished": 0,
        }
        prop = Property.objects.get(project=project, external_id="PFI0000007")
        assert prop.basic_info["address"] == "7 Swan Street"
        assert prop.financial_metrics["estimated_value"] == 650_070
        assert prop.organization_id == tenants.owner_org.pk
        record = SourceRecord.objects.get(source=source, key="PFI0000007")
        assert record.property_id == prop.pk
        assert record.first_run_id == record.changed_run_id == run.pk
        assert len(record.sha256) == 64
        assert history_reasons(project) == [f"sync {run.pk}"] * 25
        assert run.requests >= 4 and run.bytes_received > 0

    def test_unchanged_resync_writes_nothing_and_adds_no_history(
        self, tenants, project, portal, writer
    ):
        portal.load([make_record(n) for n in range(1, 11)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        sync(source, tenants.admin)
        before = Property.objects.get(external_id="PFI0000003").updated_at

        again = sync(source, tenants.admin)

        assert again.status == SyncRun.Status.COMPLETED
        assert counts(again) == {
            "fetched": 10,
            "created": 0,
            "updated": 0,
            "unchanged": 10,
            "rejected": 0,
            "vanished": 0,
        }
        assert len(history_reasons(project)) == 10
        assert Property.objects.get(external_id="PFI0000003").updated_at == before
        assert not SourceRecord.objects.filter(changed_run=again).exists()

    def test_changed_record_is_updated_and_the_rest_counted_unchanged(
        self, tenants, project, portal, writer
    ):
        records = [make_record(n) for n in range(1, 11)]
        portal.load(records)
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        sync(source, tenants.admin)
        records[4] = make_record(5, valuation=999_000)
        portal.load(records)

        again = sync(source, tenants.admin)

        assert (again.updated, again.unchanged, again.created) == (1, 9, 0)
        prop = Property.objects.get(external_id="PFI0000005")
        assert prop.financial_metrics["estimated_value"] == 999_000
        assert history_reasons(project)[-1] == f"sync {again.pk}"
        assert SourceRecord.objects.get(key="PFI0000005").changed_run_id == again.pk
        assert SourceRecord.objects.get(key="PFI0000004").changed_run_id != again.pk

    def test_rejected_records_are_kept_with_their_errors(self, tenants, project, portal):
        portal.load([make_record(1), make_record(2, postcode="31"), make_record(3, locality="")])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED_WITH_ERRORS
        assert (run.created, run.rejected) == (1, 2)
        rejected = {r.number: r.errors for r in run.rejected_records.all()}
        assert rejected[2] == ["postcode: must be exactly 4 digits, got '31'"]
        assert rejected[3] == ["suburb: is required"]
        assert run.rejected_records.get(number=2).values["postcode"] == "31"

    def test_dry_run_classifies_and_writes_nothing(self, tenants, project, portal):
        portal.load([make_record(n) for n in range(1, 6)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin, dry_run=True)

        assert (run.status, run.created) == (SyncRun.Status.COMPLETED, 5)
        assert not Property.objects.exists()
        assert not SourceRecord.objects.exists()
        assert "fields" not in source.state


@pytest.mark.django_db
class TestPaging:
    def test_keyset_pages_by_id_range(self, tenants, project, portal, settings):
        settings.SYNC_PAGE_SIZE = 4
        portal.load([make_record(n) for n in range(1, 11)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin)

        assert run.created == 10
        searches = [d for a, d in portal.calls if a == "datastore_search" and "sort" in d]
        assert [d["filters"]["_id"]["gt"] for d in searches] == [0, 4, 8]
        assert source.state["paging"] == "keyset"
        assert "datastore_search_sql" not in portal.actions()

    def test_falls_back_to_sql_when_the_range_filter_is_refused(
        self, tenants, project, portal, settings
    ):
        settings.SYNC_PAGE_SIZE = 4
        portal.keyset = False
        portal.load([make_record(n) for n in range(1, 11)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin)

        assert run.created == 10
        assert source.state["paging"] == "sql"
        sqls = [d["sql"] for a, d in portal.calls if a == "datastore_search_sql"]
        assert "WHERE _id > 8 ORDER BY _id LIMIT 4" in sqls[-1]

    def test_offset_paging_is_the_last_resort(self, tenants, project, portal, settings):
        settings.SYNC_PAGE_SIZE = 4
        portal.keyset = portal.sql = False
        portal.load([make_record(n) for n in range(1, 11)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin)

        assert run.created == 10
        assert source.state["paging"] == "offset"
        offsets = [
            d["offset"] for a, d in portal.calls if a == "datastore_search" and "offset" in d
        ]
        assert offsets == [0, 4, 8]

    def test_fields_fingerprint_is_recorded(self, tenants, project, portal):
        portal.load([make_record(1)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin)

        assert len(run.details["fingerprint"]) == 64
        assert source.state["fields"]["valuation"] == "numeric"
        assert source.state["mapped"]["propertyid"] == "property_pfi"


@pytest.mark.django_db
def test_a_record_that_differs_only_in_spacing_is_unchanged(tenants, project, portal):
    portal.load([make_record(n) for n in range(1, 4)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    sync(source, tenants.admin)
    portal.load(
        [make_record(1, street_address="1   Swan  Street "), make_record(2), make_record(3)]
    )

    run = sync(source, tenants.admin)
    again = sync(source, tenants.admin)

    assert (run.unchanged, run.updated) == (3, 0)
    assert (again.unchanged, again.updated) == (3, 0)
    assert len(history_reasons(project)) == 3
    # The normalised record is the same; only its raw digest was refreshed, by the first run.
    assert SourceRecord.objects.get(key="PFI0000001").changed_run_id == run.pk
