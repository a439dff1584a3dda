from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from backups.models import BackupConfig, BackupExecution
from backups.services.backup import backup_create
from backups.services.runs import WORKER_STOPPED, RunLock
from backups.services.schedules import (
    backup_config_delete,
    backup_config_save,
    backup_scheduled_run,
)

pytestmark = pytest.mark.django_db


def test_back_up_task_runs_through_django_q(tenants, estate):
    async_task("backups.tasks.backup_create_task", tenants.owner_org.pk, tenants.manager.pk)

    backup = BackupExecution.objects.get()
    assert backup.status == BackupExecution.Status.COMPLETED
    assert backup.organization == tenants.owner_org


def test_config_changes_keep_its_schedule_in_step(tenants):
    config = backup_config_save(
        config=BackupConfig(organization=tenants.owner_org, schedule_cron="0 3 * * *"),
        actor=tenants.admin,
    )
    schedule = Schedule.objects.get(name=f"backup-config-{config.pk}")
    assert schedule.schedule_type == Schedule.CRON
    assert schedule.func == "backups.tasks.backup_scheduled_run"
    assert (schedule.cron, schedule.args) == ("0 3 * * *", f"({config.pk},)")

    config.schedule_cron = "15 4 * * 1"
    backup_config_save(config=config, actor=tenants.admin)
    assert Schedule.objects.get(name=f"backup-config-{config.pk}").cron == "15 4 * * 1"

    config.is_active = False
    backup_config_save(config=config, actor=tenants.admin)
    assert not Schedule.objects.filter(name=f"backup-config-{config.pk}").exists()

    config.is_active = True
    backup_config_save(config=config, actor=tenants.admin)
    backup_config_delete(config=config, actor=tenants.admin)
    # Other schedules are kept by code (integrity's daily checks, the daily restore drills);
    # none is this configuration's.
    assert not Schedule.objects.filter(name__startswith="backup-config-").exists()


def test_scheduled_run_backs_up_and_prunes_past_retention(tenants, estate):
    config = BackupConfig.objects.create(organization=tenants.owner_org, retention_days=30)
    old = backup_scheduled_run(config=config)
    BackupExecution.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(days=31))
    manual = backup_create(organization=tenants.owner_org)
    BackupExecution.objects.filter(pk=manual.pk).update(
        started_at=timezone.now() - timedelta(days=31)
    )
    storage = old.archive.storage

    fresh = async_task("backups.tasks.backup_scheduled_run", config.pk)

    assert fresh
    assert not BackupExecution.objects.filter(pk=old.pk).exists()
    assert not storage.exists(old.archive.name)
    # Only the configuration's own backups age out; a manual backup stays.
    assert BackupExecution.objects.filter(pk=manual.pk).exists()
    assert BackupExecution.objects.filter(config=config, status="completed").count() == 1


def test_a_failing_schedule_never_prunes_the_last_good_backup(tenants, estate, backups_storage):
    config = BackupConfig.objects.create(organization=tenants.owner_org, retention_days=1)
    good = backup_scheduled_run(config=config)
    BackupExecution.objects.filter(pk=good.pk).update(started_at=timezone.now() - timedelta(days=3))
    backups_storage(writable=False)

    failed = backup_scheduled_run(config=config)

    assert failed.status == BackupExecution.Status.FAILED
    assert BackupExecution.objects.filter(pk=good.pk, status="completed").exists()


def test_the_newest_good_backup_survives_its_retention(tenants, estate):
    config = BackupConfig.objects.create(organization=tenants.owner_org, retention_days=1)
    only = backup_scheduled_run(config=config)
    BackupExecution.objects.filter(pk=only.pk).update(started_at=timezone.now() - timedelta(days=3))
    from backups.services.schedules import backup_prune

    assert backup_prune(config=config) == 0
    assert BackupExecution.objects.filter(pk=only.pk).exists()


def test_scheduled_run_is_skipped_while_the_previous_one_runs(tenants, estate):
    config = BackupConfig.objects.create(organization=tenants.owner_org)
    previous = BackupExecution.objects.create(organization=tenants.owner_org, config=config)
    worker = RunLock(previous)

    try:
        assert backup_scheduled_run(config=config) is None
    finally:
        worker.release()
    assert BackupExecution.objects.filter(config=config).count() == 1
    previous.refresh_from_db()
    assert previous.status == BackupExecution.Status.RUNNING


def test_scheduled_runs_of_another_organisation_touch_only_it(tenants, estate):
    config = BackupConfig.objects.create(organization=tenants.other_org)
    backup = backup_scheduled_run(config=config)
    assert backup.organization == tenants.other_org
    assert backup.record_count == 3 + 3  # a project, a property, an analysis and their history


def test_a_run_left_running_by_a_dead_worker_does_not_block_forever(tenants, estate):
    config = BackupConfig.objects.create(organization=tenants.owner_org)
    stale = BackupExecution.objects.create(organization=tenants.owner_org, config=config)

    backup = backup_scheduled_run(config=config)

    assert backup is not None and backup.status == BackupExecution.Status.COMPLETED
    stale.refresh_from_db()
    assert (stale.status, stale.error_message) == ("failed", WORKER_STOPPED)


def test_django_q_scheduler_runs_a_due_backup_configuration(tenants, estate):
    from django_q.scheduler import scheduler

    config = backup_config_save(
        config=BackupConfig(organization=tenants.owner_org, schedule_cron="0 2 * * *")
    )
    Schedule.objects.filter(name=f"backup-config-{config.pk}").update(
        next_run=timezone.now() - timedelta(minutes=1)
    )

    scheduler()

    backup = BackupExecution.objects.get(config=config)
    assert backup.status == BackupExecution.Status.COMPLETED
    assert backup.organization == tenants.owner_org
    assert Schedule.objects.get(name=f"backup-config-{config.pk}").next_run > timezone.now()
