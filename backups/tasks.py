"""django-q2 entry points (load rows by id, call one service) and the `enqueue_*` functions,
the only code that queues the backups app's jobs: each queues once the current transaction
commits, so a job never starts before its rows exist or after a rollback."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django_q.tasks import async_task

from organizations.models import Organization

from . import drills, recovery_points
from .models import BackupConfig, BackupExecution, RestoreExecution
from .services import backup, queued, schedules, verify


def _user(user_id):
    return get_user_model().objects.filter(pk=user_id).first() if user_id else None


def _enqueue(func: str, *args) -> None:
    transaction.on_commit(lambda: async_task(func, *args))


def enqueue_backup_create(*, organization: Organization, actor=None) -> None:
    _enqueue("backups.tasks.backup_create_task", organization.pk, getattr(actor, "pk", None))


def enqueue_backup_verify(*, backup: BackupExecution, actor=None) -> None:
    _enqueue("backups.tasks.backup_verify_task", backup.pk, getattr(actor, "pk", None))


def enqueue_backup_drill(*, backup: BackupExecution, actor=None) -> None:
    _enqueue("backups.tasks.backup_drill_task", backup.pk, getattr(actor, "pk", None))


def enqueue_restore_execute(*, restore: RestoreExecution, allow_cross_org: bool = False) -> None:
    """Runs a pending restore (a dry-run plan or a confirmed restore) in a worker."""
    _enqueue("backups.tasks.restore_execute_task", restore.pk, allow_cross_org)


def enqueue_recovery_point_create(*, organization: Organization, actor, description: str) -> None:
    _enqueue(
        "backups.tasks.recovery_point_create_task",
        organization.pk,
        getattr(actor, "pk", None),
        description,
    )


def backup_create_task(organization_id: int, user_id: int | None = None) -> int:
    organization = Organization.objects.get(pk=organization_id)
    return backup.backup_create(organization=organization, actor=_user(user_id)).pk


def backup_verify_task(backup_id: int, user_id: int | None = None) -> str:
    execution = BackupExecution.objects.select_related("organization").get(pk=backup_id)
    return verify.backup_verify(backup=execution, actor=_user(user_id)).verification_status


def restore_execute_task(restore_id: int, allow_cross_org: bool = False) -> str:
    execution = RestoreExecution.objects.select_related("organization", "backup", "actor").get(
        pk=restore_id
    )
    execution = queued.restore_execute(restore=execution, allow_cross_org=allow_cross_org)
    return f"restore {execution.pk}: {execution.status}"


def backup_scheduled_run(config_id: int) -> int | None:
    config = BackupConfig.objects.filter(pk=config_id).first()
    if config is None:
        return None
    execution = schedules.backup_scheduled_run(config=config)
    return execution.pk if execution else None


def recovery_point_create_task(organization_id: int, user_id: int | None, description: str):
    organization = Organization.objects.get(pk=organization_id)
    return recovery_points.recovery_point_create(
        organization=organization, description=description, actor=_user(user_id)
    ).pk


def backup_drill_task(backup_id: int, user_id: int | None = None) -> str:
    execution = BackupExecution.objects.select_related("organization").get(pk=backup_id)
    return drills.backup_drill(backup=execution, actor=_user(user_id)).status


def backup_drills_daily_task() -> int:
    return len(drills.backup_drills_daily(organizations=Organization.objects.all()))
