"""Scheduled backups: the run a BackupConfig's schedule starts, retention, and the django-q2
schedule kept in step with each configuration."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from organizations.access import Scope
from organizations.schedules import cron_schedule_sync

from ..incremental import ChainError, chain_parent
from ..models import BackupConfig, BackupExecution, BackupType
from ..retention import backups_still_needed
from .backup import selected_specs, write_archive
from .runs import RunLock, runs_fail_stopped

logger = logging.getLogger(__name__)

SCHEDULED_TASK = "backups.tasks.backup_scheduled_run"


def backup_prune(*, config: BackupConfig, now=None) -> int:
    """Deletes the configuration's backups (archive and row) older than its retention.

    The newest completed backup is never pruned, however old: when backups keep failing, the
    last good one is all there is to restore from. Nor is anything a restore may still need
    (backups/retention.py): chains, recovery points, the newest verified and the newest
    `keep_full_backups` full backups.
    """
    cutoff = (now or timezone.now()) - timedelta(days=config.retention_days)
    newest_good = (
        BackupExecution.objects.filter(
            organization=config.organization, status=BackupExecution.Status.COMPLETED
        )
        .order_by("-started_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    expired = (
        BackupExecution.objects.filter(config=config, started_at__lt=cutoff)
        .exclude(status=BackupExecution.Status.RUNNING)
        .exclude(pk=newest_good)
    )
    needed = backups_still_needed(
        config.organization,
        expired=set(expired.values_list("pk", flat=True)),
        keep_full=config.keep_full_backups,
    )
    count = 0
    for execution in expired.exclude(pk__in=needed):
        if execution.archive:
            execution.archive.storage.delete(execution.archive.name)
        execution.delete()
        count += 1
    return count


def backup_scheduled_run(*, config: BackupConfig) -> BackupExecution | None:
    """The scheduled backup of a configuration; skipped, not doubled, while the previous one
    still runs. Prunes backups past the retention afterwards."""
    with transaction.atomic():
        config = (
            BackupConfig.objects.select_for_update()
            .select_related("organization")
            .get(pk=config.pk)
        )
        if not config.is_active:
            return None
        # A run whose worker died (its lock is free) is marked failed and no longer blocks.
        runs_fail_stopped(organization=config.organization)
        still_running = config.executions.filter(status=BackupExecution.Status.RUNNING)
        if still_running.exists():
            logger.info("Backup of %s still running; this run is skipped", config.organization)
            return None
        specs = selected_specs(config.backup_type, config.tables_included)
        backup_type, parent = config.backup_type, None
        if backup_type == BackupType.INCREMENTAL:
            try:
                parent = chain_parent(config.organization)
            except ChainError:
                # Nothing to chain onto yet: the chain starts with a full backup.
                backup_type = BackupType.FULL
        # Created under the lock: a second worker sees it running and skips.
        execution = BackupExecution.objects.create(
            organization=config.organization,
            config=config,
            backup_type=backup_type,
            base_backup=parent,
        )
        lock = RunLock(execution)
    execution = write_archive(execution, specs, lock)
    if execution.status == BackupExecution.Status.COMPLETED:
        # Only a good new backup makes old ones redundant.
        backup_prune(config=config)
    return execution


def backup_schedule_sync(*, config: BackupConfig, deleted: bool = False) -> Schedule | None:
    """Keeps the django-q2 schedule of a configuration in step with it: created, updated, or
    removed when the configuration is inactive or deleted."""
    return cron_schedule_sync(
        name=f"backup-config-{config.pk}",
        func=SCHEDULED_TASK,
        args=(config.pk,),
        cron=config.schedule_cron,
        wanted=config.is_active and not deleted,
    )


@transaction.atomic
def backup_config_save(*, config: BackupConfig, actor=None) -> BackupConfig:
    """Save a backup configuration (new or changed) and its django-q2 schedule with it."""
    permission = "backups.change_backupconfig" if config.pk else "backups.add_backupconfig"
    Scope.of(actor).require(permission, organization=config.organization_id)
    config.save()
    backup_schedule_sync(config=config)
    return config


@transaction.atomic
def backup_config_delete(*, config: BackupConfig, actor=None) -> None:
    """Delete a backup configuration and its schedule."""
    Scope.of(actor).require("backups.delete_backupconfig", organization=config.organization_id)
    backup_schedule_sync(config=config, deleted=True)
    config.delete()
