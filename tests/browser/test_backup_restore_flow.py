"""Flow 4: a manager backs up, deletes a property, restores after reading the dry-run plan, and
finds the property back.

The plan and the restore are django-q2 tasks run by a real `qcluster` process on the test
database (the ORM broker), started once the plan page has shown that it waits for a worker: the
page refreshes itself until the plan is there, and the restore's page until it has finished."""

import os
import signal
import subprocess
import sys

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from backups.models import BackupExecution, RestoreExecution
from properties.models import Property
from tests.config.helpers import ROOT, child_database_url, production_env

from .conftest import open_from_index, run_changelist_action

#: How long the worker may take to start and finish a task on a loaded machine.
WORKER_TIMEOUT_MS = 90_000


@pytest.fixture
def task_worker(settings, tmp_path, monkeypatch):
    """`start()` runs a qcluster with one worker on the test database; until then, tasks queued
    from here wait in its ORM broker (after `queue_tasks()`; before it, they run in the
    request, as in the rest of the suite)."""
    from django_q.conf import Conf

    env = production_env(
        tmp_path,
        DATABASE_URL=child_database_url(tmp_path),
        Q_WORKERS="1",
        MEDIA_ROOT=settings.STORAGES["default"]["OPTIONS"]["location"],
        BACKUP_ROOT=settings.STORAGES["backups"]["OPTIONS"]["location"],
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=settings.SECRET_KEY,  # tasks are signed with it
    )
    started = []
    log_path = tmp_path / "cluster.log"

    class Worker:
        @staticmethod
        def queue_tasks():
            monkeypatch.setattr(Conf, "SYNC", False)
            monkeypatch.setattr(Conf, "REDIS", None)
            monkeypatch.setattr(Conf, "ORM", "default")

        @staticmethod
        def start():
            with open(log_path, "a") as log:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "manage.py", "qcluster"],
                        cwd=ROOT,
                        env=env,
                        start_new_session=True,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    yield Worker
    print(log_path.read_text()[-5000:] if log_path.exists() else "")  # shown on failure
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_manager_backs_up_deletes_a_property_restores_and_finds_it_back(
    estate, log_in_as, snapshot, task_worker
):
    lost = estate.properties[1]
    other_before = Property.objects.get(pk=estate.other_property.pk).basic_info

    page = log_in_as(estate.manager)
    open_from_index(page, "backupexecution", "Backup executions")
    page.get_by_role("button", name="Back up now").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Backup of Harbour Property Analytics started"
    )
    backups = page.locator("#result_list tbody tr")
    expect(backups).to_have_count(1)
    expect(backups.first).to_contain_text("Completed")
    backup = BackupExecution.objects.get()
    assert backup.status == BackupExecution.Status.COMPLETED
    assert backup.organization == estate.harbour

    page.goto(reverse("admin:properties_property_change", args=[lost.pk]))
    page.get_by_role("link", name="Delete", exact=True).click()
    page.get_by_role("button", name="Yes, I’m sure").click()
    expect(page.locator(".messagelist .success")).to_contain_text("20 Swan Street")
    assert not Property.objects.filter(pk=lost.pk).exists()

    task_worker.queue_tasks()
    open_from_index(page, "backupexecution", "Backup executions")
    run_changelist_action(page, "restore_backup", backup.pk)

    # No worker yet: the plan page says the dry run waits for one, and refreshes itself.
    expect(page.locator("#plan-progress")).to_contain_text("Waiting for a worker")
    expect(page.locator("meta[http-equiv='refresh']")).to_have_attribute("content", "2")
    plan = RestoreExecution.objects.get()
    assert (plan.dry_run, plan.status) == (True, RestoreExecution.Status.PENDING)
    snapshot(page, "restore-plan-progress")

    task_worker.start()
    table = page.locator("#restore-plan")
    expect(table).to_be_visible(timeout=WORKER_TIMEOUT_MS)
    expect(table.locator("tbody tr", has_text="properties").locator("td").nth(1)).to_have_text("1")
    expect(table.locator("tfoot")).to_contain_text("Total")
    expect(page.locator("#plan-progress")).to_have_count(0)
    snapshot(page, "restore-plan")
    assert not Property.objects.filter(pk=lost.pk).exists()  # the plan changed nothing

    page.get_by_role("button", name="Confirm restore").click()
    expect(page.locator(".messagelist .success")).to_contain_text(
        f"Restore of Harbour Property Analytics from backup {backup.pk} started"
    )
    # The restore's own page refreshes itself until the worker has finished it.
    expect(page.locator(".field-status .readonly")).to_have_text(
        "Completed", timeout=WORKER_TIMEOUT_MS
    )
    expect(page.locator("#restore-refreshing")).to_have_count(0)

    open_from_index(page, "property", "Properties")
    page.locator("#searchbar").fill("Swan Street")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("20 Swan Street")

    restored = Property.objects.get(external_id=lost.external_id, project=estate.project)
    assert restored.basic_info == lost.basic_info
    assert restored.financial_metrics == lost.financial_metrics
    restore = RestoreExecution.objects.get(dry_run=False)
    assert restore.status == RestoreExecution.Status.COMPLETED and restore.actor == estate.manager
    assert Property.objects.get(pk=estate.other_property.pk).basic_info == other_before
