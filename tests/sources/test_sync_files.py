"""Published files: conditional GET, unchanged SHA-256, the import's readers."""

import pytest

from properties.models import Property
from sources.models import SyncRun

from . import helpers
from .helpers import counts, history_reasons, sync

HEADER = "Property ID,Street Address,Suburb,Postcode,Price,Landsize,Lattitude,Longtitude\n"


def _csv(rows: int, *, price_bump: int = 0) -> bytes:
    lines = [
        f"MEL{n:05d},{n} Chapel Street,Richmond,3121.0,{900000 + n + price_bump},"
        f"{300 + n},-37.82,144.99\n"
        for n in range(1, rows + 1)
    ]
    return (HEADER + "".join(lines)).encode()


@pytest.fixture
def file_source(tenants, project, portal):
    portal.publish(
        "valuations.csv", _csv(12), etag='"v1"', last_modified="Mon, 30 Nov 2026 10:00:00 GMT"
    )
    return helpers.file_source(
        actor=tenants.admin,
        project=project,
        portal=portal,
        file_name="valuations.csv",
        name="Melbourne sales",
    )


@pytest.mark.django_db
class TestFileSources:
    def test_first_sync_reads_the_file_through_the_import_aliases(
        self, tenants, project, portal, file_source
    ):
        run = sync(file_source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED, run.error
        assert counts(run) == {
            "fetched": 12,
            "created": 12,
            "updated": 0,
            "unchanged": 0,
            "rejected": 0,
            "vanished": 0,
        }
        prop = Property.objects.get(external_id="MEL00003")
        assert prop.basic_info["postcode"] == "3121"
        assert prop.spatial_attributes["coordinates"]["coordinates"] == [144.99, -37.82]
        assert file_source.state["etag"] == '"v1"'
        assert history_reasons(project) == [f"sync {run.pk}"] * 12

    def test_not_modified_ends_the_run_with_nothing_written(self, tenants, portal, file_source):
        sync(file_source, tenants.admin)

        run = sync(file_source, tenants.admin)

        assert run.status == SyncRun.Status.UNCHANGED
        assert (run.fetched, run.requests) == (0, 1)
        request_headers = portal.calls[-1][1]
        assert request_headers["If-None-Match"] == '"v1"'
        assert request_headers["If-Modified-Since"] == "Mon, 30 Nov 2026 10:00:00 GMT"

    def test_same_bytes_under_a_new_etag_are_unchanged(self, tenants, project, portal, file_source):
        sync(file_source, tenants.admin)
        portal.publish("valuations.csv", _csv(12), etag='"v2"')

        run = sync(file_source, tenants.admin)

        assert run.status == SyncRun.Status.UNCHANGED
        assert run.details["same_sha256"]
        assert len(history_reasons(project)) == 12
        assert file_source.state["etag"] == '"v2"'

    def test_a_changed_file_updates_only_what_changed(self, tenants, project, portal, file_source):
        sync(file_source, tenants.admin)
        body = _csv(13).replace(
            b"MEL00002,2 Chapel Street,Richmond,3121.0,900002",
            b"MEL00002,2 Chapel Street,Richmond,3121.0,955000",
        )
        portal.publish("valuations.csv", body, etag='"v3"')

        run = sync(file_source, tenants.admin)

        assert (run.created, run.updated, run.unchanged) == (1, 1, 11)
        assert (
            Property.objects.get(external_id="MEL00002").financial_metrics["estimated_value"]
            == 955_000
        )

    def test_a_file_that_is_not_a_table_fails_with_the_readers_message(
        self, tenants, portal, file_source
    ):
        portal.publish("valuations.csv", b"\x00\x01\x02binary", etag='"bad"')

        run = sync(file_source, tenants.admin)

        assert run.status == SyncRun.Status.FAILED
        assert run.error and not Property.objects.exists()

    def test_a_busy_file_server_is_retried(self, tenants, portal, file_source):
        portal.fail("GET valuations.csv", status=429, retry_after="3", times=1)

        run = sync(file_source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED
        assert run.waits == [0.01]  # Retry-After 3, capped by SYNC_MAX_WAIT_SECONDS in tests
