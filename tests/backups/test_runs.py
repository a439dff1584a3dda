"""A backup or restore whose worker died is marked failed ("worker stopped") once its lock is
found free; one whose worker lives is left running."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse

from backups.models import BackupExecution, RestoreExecution
from backups.services.runs import WORKER_STOPPED, RunLock, run_lock_held, runs_fail_stopped
from organizations.models import Organization

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
HOLD_LOCK = """
import sys, time, django
django.setup()
from backups import models
from backups.services.runs import RunLock
lock = RunLock(getattr(models, sys.argv[1])(pk=int(sys.argv[2])))
print("held", flush=True)
time.sleep(600)
"""


def _worker_env() -> dict:
    """The environment of a worker process on the test's database."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["RUN_LOCK_DIR"] = str(settings.RUN_LOCK_DIR)
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return env


def _worker(model, pk: int) -> subprocess.Popen:
    """A separate process holding the run lock of `model` row `pk`, as a worker does."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, model.__name__, str(pk)],
        cwd=ROOT,
        env=_worker_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


RESTORE_AS_OF = """
import sys, django
django.setup()
from django.utils import timezone
from backups.pitr import organization_restore_as_of
from organizations.models import Organization
organization = Organization.objects.get(pk=int(sys.argv[1]))
organization_restore_as_of(organization=organization, as_of=timezone.now())
"""


def _wait_until_free(execution) -> None:
    """PostgreSQL ends the dead client's session a moment after the process is gone."""
    deadline = time.monotonic() + 30
    while run_lock_held(execution) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("model", [BackupExecution, RestoreExecution])
def test_run_whose_worker_is_killed_is_marked_failed(tenants, model):
    execution = model.objects.create(organization=tenants.owner_org)
    worker = _worker(model, execution.pk)
    try:
        assert runs_fail_stopped() == 0
        execution.refresh_from_db()
        assert execution.status == "running"
    finally:
        worker.kill()  # kill -9: no cleanup runs in the worker
        worker.wait()
    _wait_until_free(execution)

    assert runs_fail_stopped() == 1

    execution.refresh_from_db()
    assert (execution.status, execution.error_message) == ("failed", WORKER_STOPPED)
    assert execution.completed_at is not None


def test_finished_runs_release_their_lock_and_keep_their_outcome(tenants):
    execution = RestoreExecution.objects.create(organization=tenants.owner_org)
    lock = RunLock(execution)
    assert run_lock_held(execution)
    RestoreExecution.objects.filter(pk=execution.pk).update(status="completed")
    lock.release()

    assert not run_lock_held(execution)
    assert runs_fail_stopped() == 0
    execution.refresh_from_db()
    assert execution.status == "completed"


def test_admin_shows_a_stopped_restore_as_failed_and_an_outsider_touches_nothing(client, tenants):
    restore = RestoreExecution.objects.create(organization=tenants.owner_org)
    backup = BackupExecution.objects.create(organization=tenants.owner_org)

    client.force_login(tenants.outsider)
    page = client.get(reverse("admin:backups_restoreexecution_changelist"))
    assert page.status_code == 200 and WORKER_STOPPED not in page.content.decode()
    restore.refresh_from_db()
    assert restore.status == "running"

    client.force_login(tenants.manager)
    page = client.get(reverse("admin:backups_restoreexecution_changelist"))
    assert WORKER_STOPPED in page.content.decode()
    page = client.get(reverse("admin:backups_backupexecution_changelist"))
    assert WORKER_STOPPED in page.content.decode()
    restore.refresh_from_db()
    backup.refresh_from_db()
    assert restore.status == backup.status == "failed"


def test_killed_point_in_time_restore_is_marked_failed_and_changed_nothing(
    transactional_db, on_postgres, tenants
):
    from properties.models import Property
    from tests.factories import PropertyFactory

    PropertyFactory(project__organization=tenants.owner_org)
    before = list(Property.objects.filter(organization=tenants.owner_org).values())
    with transaction.atomic():
        # The organisation's row locked here, so the worker's restore waits at
        # organization_lock(). NO KEY: the worker may still insert rows referencing it.
        Organization.objects.select_for_update(no_key=True).filter(pk=tenants.owner_org.pk).get()
        worker = subprocess.Popen(
            [sys.executable, "-c", RESTORE_AS_OF, str(tenants.owner_org.pk)],
            cwd=ROOT,
            env=_worker_env(),
        )
        try:
            restore = _wait_for_running_restore(worker)
            assert runs_fail_stopped() == 0  # its worker lives and holds the run lock
        finally:
            worker.kill()
            worker.wait()
    _wait_until_free(restore)

    assert runs_fail_stopped() == 1

    restore.refresh_from_db()
    assert (restore.strategy, restore.status) == ("point_in_time", "failed")
    assert restore.error_message == WORKER_STOPPED
    assert list(Property.objects.filter(organization=tenants.owner_org).values()) == before


def _wait_for_running_restore(worker) -> RestoreExecution:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and worker.poll() is None:
        restore = RestoreExecution.objects.filter(status="running").first()
        if restore is not None:
            return restore
        time.sleep(0.05)
    raise AssertionError(f"the worker started no restore (exit status {worker.poll()})")
