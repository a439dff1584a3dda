import threading

import pytest
from django.db import connection
from django_q.models import Schedule

from sources.models import SyncRun
from sources.services import source_save, source_sync_start
from sources.tasks import source_scheduled_sync_task

from .helpers import ckan_source, sync
from .portal import make_record


@pytest.mark.django_db
class TestTasks:
    def test_sync_start_queues_after_commit_and_the_task_runs(
        self, tenants, project, portal, django_capture_on_commit_callbacks
    ):
        portal.load([make_record(n) for n in range(1, 4)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            source_sync_start(source=source, actor=tenants.admin)
            assert not SyncRun.objects.exists()  # queued only when the transaction commits
        assert len(callbacks) == 1
        run = SyncRun.objects.get()
        assert (run.status, run.created, run.trigger) == ("completed", 3, "manual")

    def test_the_schedule_follows_the_source(self, tenants, project, portal):
        source = ckan_source(
            actor=tenants.admin, project=project, portal=portal, schedule_cron="15 4 * * 1"
        )
        schedule = Schedule.objects.get(name=f"source-sync-{source.pk}")
        assert schedule.cron == "15 4 * * 1" and schedule.args == f"({source.pk},)"
        source.active = False
        source_save(source=source, actor=tenants.admin)
        assert not Schedule.objects.filter(name=f"source-sync-{source.pk}").exists()

    def test_the_scheduled_task_records_a_schedule_run(self, tenants, project, portal):
        portal.load([make_record(1)])
        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        run = SyncRun.objects.get(pk=source_scheduled_sync_task(source.pk))
        assert (run.trigger, run.status, run.actor) == ("schedule", "completed", None)

    def test_outsider_cannot_queue_a_sync(self, tenants, project, portal):
        from organizations.access import AccessDenied

        source = ckan_source(actor=tenants.admin, project=project, portal=portal)
        with pytest.raises(AccessDenied):
            source_sync_start(source=source, actor=tenants.outsider)
        with pytest.raises(AccessDenied):
            sync(source, tenants.manager)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_make_one_run_and_one_recorded_skip(
    tenants, project, portal, on_postgres
):
    portal.load([make_record(n) for n in range(1, 6)])
    source = ckan_source(actor=tenants.admin, project=project, portal=portal)
    portal.fail("datastore_search", delay=1.0, after_id=-1, times=1)  # the first page is slow
    portal.faults[-1].status = 0
    results = []

    def worker():
        try:
            results.append(source_scheduled_sync_task(source.pk))
        finally:
            connection.close()

    first = threading.Thread(target=worker)
    first.start()
    while not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists():
        pass
    second = source_scheduled_sync_task(source.pk)
    first.join()

    assert SyncRun.objects.get(pk=second).status == SyncRun.Status.SKIPPED
    done = SyncRun.objects.get(pk=results[0])
    assert (done.status, done.created) == (SyncRun.Status.COMPLETED, 5)


@pytest.mark.django_db
def test_the_schedule_of_a_source_deleted_with_its_project_removes_itself(tenants, project, portal):
    source = ckan_source(
        actor=tenants.admin, project=project, portal=portal, schedule_cron="0 1 * * *"
    )
    source_id = source.pk
    project.delete()

    assert source_scheduled_sync_task(source_id) is None
    assert not Schedule.objects.filter(name=f"source-sync-{source_id}").exists()
