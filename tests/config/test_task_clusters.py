"""Several django-q2 clusters on one Redis: real `qcluster` processes on the local Redis and the
PostgreSQL test database. A scheduled backup due when two clusters start runs once; an import
whose cluster is killed mid-run resumes on another cluster from its last committed batch."""

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from backups.models import BackupConfig, BackupExecution
from backups.services.schedules import backup_config_save
from imports.models import ImportJob
from imports.services.jobs import import_job_create, import_resume, import_run
from properties.models import Property
from tests.config.helpers import ROOT, child_database_url, production_env
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
ROWS = 5_000
WAIT_SECONDS = 90
# The scheduler runs on a cluster's first guard cycle, then every 30 s: with a 30 s cycle
# both clusters look at the due schedule as they start (stopping still answers at once).
CLUSTER = (
    "import django; django.setup(); from django_q.conf import Conf; Conf.GUARD_CYCLE = 30; "
    "from django.core.management import call_command; call_command('qcluster')"
)


@pytest.fixture
def task_redis():
    if connection.vendor != "postgresql":
        pytest.skip("clusters share the test database with this process: runs on PostgreSQL")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is not reachable and CI is set")
        pytest.skip(
            f"!!! REDIS ABSENT: {REDIS_URL} is not reachable, the two-cluster test did not run !!!"
        )
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def clusters(task_redis, tmp_path, settings, monkeypatch):
    """Starts qcluster processes on demand; kills what is left at the end."""
    from django_q.conf import Conf

    # This process enqueues onto the same Redis, for real (the suite runs tasks in-process).
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    env = production_env(
        tmp_path,
        DATABASE_URL=child_database_url(tmp_path),
        REDIS_URL=REDIS_URL,
        Q_WORKERS="1",
        MEDIA_ROOT=settings.STORAGES["default"]["OPTIONS"]["location"],
        BACKUP_ROOT=settings.STORAGES["backups"]["OPTIONS"]["location"],
        DJANGO_SETTINGS_MODULE="config.settings",
        # Tasks are signed with the key: the clusters must share this process's.
        SECRET_KEY=settings.SECRET_KEY,
    )
    started = []
    log_path = tmp_path / "clusters.log"

    def start() -> subprocess.Popen:
        with open(log_path, "a") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", CLUSTER],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    print(log_path.read_text()[-5000:])  # shown by pytest when the test fails
    # The test is over: no need for the clusters' graceful stop (it waits out a guard cycle).
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def _import_file() -> io.BytesIO:
    rows = ["external_id,address,suburb,state,postcode"]
    rows += [f"P{n:05d},{n} Chapel St,Windsor,VIC,3181" for n in range(ROWS)]
    return io.BytesIO("\n".join(rows).encode())


def test_two_clusters_run_a_due_schedule_once_and_resume_a_killed_import(
    clusters, tenants, settings
):
    settings.IMPORT_BACKGROUND_THRESHOLD_ROWS = 10
    settings.IMPORT_STALE_SECONDS = 1
    project = ProjectFactory(organization=tenants.owner_org)
    job = import_job_create(
        actor=tenants.manager, project=project, file=_import_file(), batch_size=50
    )

    # One cluster takes the import; it is killed (every process of it) after a batch commits.
    first = clusters()
    import_run(job=job, actor=tenants.manager, background=None)
    _wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, last_committed_row__gt=0).exists(),
        "a committed batch",
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.IMPORTING
    committed_when_killed = job.last_committed_row
    assert 0 < committed_when_killed < ROWS

    # A scheduled backup is due as two clusters start together.
    config = backup_config_save(
        config=BackupConfig(organization=tenants.owner_org, schedule_cron="0 3 * * *"),
        actor=tenants.admin,
    )
    Schedule.objects.filter(name=f"backup-config-{config.pk}").update(
        next_run=timezone.now() - timedelta(minutes=1)
    )
    clusters(), clusters()
    _wait_for(
        lambda: BackupExecution.objects.filter(
            config=config, status=BackupExecution.Status.COMPLETED
        ).exists(),
        "the scheduled backup",
    )
    schedule = Schedule.objects.get(name=f"backup-config-{config.pk}")
    assert schedule.next_run > timezone.now()

    # The killed import resumes on one of them after its last committed batch.
    time.sleep(settings.IMPORT_STALE_SECONDS)
    import_resume(job=job, actor=tenants.manager, background=True)
    _wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.COMPLETED).exists(),
        "the resumed import",
    )
    job.refresh_from_db()
    assert Property.objects.filter(project=project).count() == ROWS
    assert job.created_count == ROWS
    # Both clusters saw the due schedule while they ran: still one backup.
    assert BackupExecution.objects.filter(config=config).count() == 1
    assert Property.objects.filter(organization=tenants.other_org).count() == 0
