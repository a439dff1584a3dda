"""Network behaviour against the local portal: retries, Retry-After, timeouts, interrupted
passes resumed from their cursor, reloaded resources, tokens, the public-address check."""

import pytest
from django.core.exceptions import ValidationError

from properties.models import Property
from sources.models import SyncRun
from sources.network import address_refusal

from .helpers import ckan_source, history_reasons, sync
from .portal import make_record


@pytest.fixture
def ten(portal):
    portal.load([make_record(n) for n in range(1, 11)])
    return portal


@pytest.mark.django_db
class TestRetries:
    def test_429_waits_what_retry_after_asks(self, tenants, project, ten, settings):
        settings.SYNC_MAX_WAIT_SECONDS = 120
        ten.fail("datastore_search", status=429, retry_after="7", times=2, after_id=-1)
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED, run.error
        assert run.waits == [7.0, 7.0]
        assert run.created == 10

    def test_503_is_retried_with_exponential_backoff(self, tenants, project, ten, settings):
        settings.SYNC_BACKOFF_SECONDS = 0.5
        settings.SYNC_MAX_WAIT_SECONDS = 60
        ten.fail("resource_show", status=503, times=3)
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED, run.error
        assert run.waits == [0.5, 1.0, 2.0]

    def test_gives_up_after_the_retries_with_a_clear_error(self, tenants, project, ten):
        ten.fail("resource_show", status=503, times=10)
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.FAILED
        assert run.error == "resource_show: the portal answered 503"
        assert run.requests == 4  # the first try and three retries

    def test_a_slow_answer_times_out_and_is_retried(self, tenants, project, ten, settings):
        settings.SYNC_READ_TIMEOUT = 0.2
        ten.fail("resource_show", delay=0.6, times=1)
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED, run.error
        assert len(run.waits) == 1

    def test_not_found_is_not_retried(self, tenants, project, portal):
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.FAILED
        assert "resource_show: not found" in run.error
        assert run.waits == []

    def test_api_token_comes_from_the_environment(self, tenants, project, ten, monkeypatch):
        ten.token = "secret-token-123"
        source = ckan_source(
            actor=tenants.admin, project=project, portal=ten, api_token_env="VIC_PORTAL_TOKEN"
        )
        refused = sync(source, tenants.admin)
        monkeypatch.setenv("VIC_PORTAL_TOKEN", "secret-token-123")

        run = sync(source, tenants.admin)

        assert refused.status == SyncRun.Status.FAILED
        assert "not authorised" in refused.error
        assert run.status == SyncRun.Status.COMPLETED
        assert "secret-token-123" not in str(source.state) + source.api_token_env


@pytest.mark.django_db
class TestInterruptedPass:
    def test_a_page_that_breaks_fails_the_run_and_the_next_resumes_from_the_cursor(
        self, tenants, project, ten, settings
    ):
        settings.SYNC_PAGE_SIZE = 4
        ten.fail("datastore_search", status=502, times=10, after_id=3)
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)

        broken = sync(source, tenants.admin)

        assert broken.status == SyncRun.Status.FAILED
        assert (broken.created, broken.cursor["after_id"]) == (4, 4)
        assert Property.objects.count() == 4
        ten.faults.clear()
        ten.calls.clear()

        resumed = sync(source, tenants.admin)

        assert resumed.status == SyncRun.Status.COMPLETED, resumed.error
        assert resumed.pass_id == broken.pk
        assert (resumed.created, resumed.vanished) == (6, 0)  # what the broken run saw counts
        ranges = [
            d["filters"]["_id"]["gt"]
            for a, d in ten.calls
            if a == "datastore_search" and "sort" in d
        ]
        assert ranges == [4, 8]
        assert Property.objects.count() == 10
        assert history_reasons(project).count(f"sync {resumed.pk}") == 6

    def test_a_reloaded_resource_whose_ids_restart_is_read_from_the_start(
        self, tenants, project, ten, settings
    ):
        settings.SYNC_PAGE_SIZE = 4
        ten.fail("datastore_search", status=500, times=10, after_id=3)
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)
        sync(source, tenants.admin)
        ten.faults.clear()
        # Reloaded: the same records in another order, _ids numbered afresh from 1.
        ten.load([make_record(n) for n in range(10, 0, -1)])

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.COMPLETED, run.error
        assert run.details["restarted"].startswith("the resource was reloaded")
        assert (run.fetched, run.created, run.unchanged) == (10, 6, 4)

    def test_full_ignores_the_cursor(self, tenants, project, ten, settings):
        settings.SYNC_PAGE_SIZE = 4
        ten.fail("datastore_search", status=500, times=10, after_id=3)
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)
        sync(source, tenants.admin)
        ten.faults.clear()

        run = sync(source, tenants.admin, full=True)

        assert (run.fetched, run.created, run.unchanged) == (10, 6, 4)


@pytest.mark.django_db
class TestOneRunAtATime:
    def test_a_run_still_going_makes_the_next_a_recorded_skip(self, tenants, project, ten):
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)
        going = SyncRun.objects.create(source=source, status=SyncRun.Status.RUNNING)
        going.progress_at = going.created_at
        going.save()

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.SKIPPED
        assert run.error == f"sync {going.pk} of this source is still running"
        assert ten.calls == []
        assert not Property.objects.exists()

    def test_a_run_silent_too_long_is_failed_and_no_longer_blocks(
        self, tenants, project, ten, settings
    ):
        settings.SYNC_STALE_SECONDS = 0
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)
        lost = SyncRun.objects.create(source=source, status=SyncRun.Status.RUNNING)
        lost.progress_at = lost.created_at
        lost.save()

        run = sync(source, tenants.admin)
        lost.refresh_from_db()

        assert run.status == SyncRun.Status.COMPLETED
        assert lost.status == SyncRun.Status.FAILED


@pytest.mark.django_db
class TestPublicAddressCheck:
    def test_private_hosts_are_refused_at_save(self, tenants, project, portal, settings):
        settings.SYNC_ALLOW_PRIVATE_HOSTS = False

        with pytest.raises(ValidationError) as refused:
            ckan_source(actor=tenants.admin, project=project, portal=portal)

        assert "127.0.0.1 does not resolve to a public internet address" in str(refused.value)

    def test_private_hosts_are_refused_at_connect(self, tenants, project, ten, settings):
        source = ckan_source(actor=tenants.admin, project=project, portal=ten)
        settings.SYNC_ALLOW_PRIVATE_HOSTS = False

        run = sync(source, tenants.admin)

        assert run.status == SyncRun.Status.FAILED
        assert "Refused to connect" in run.error and "127.0.0.1" in run.error
        assert ten.calls == []

    def test_only_http_urls(self, settings):
        settings.SYNC_ALLOW_PRIVATE_HOSTS = True
        assert address_refusal("file:///etc/passwd") == "not an http(s) URL"
        assert address_refusal("ftp://example.com/x.csv") == "not an http(s) URL"
