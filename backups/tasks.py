"""django-q2 entry points (load rows by id, call one service) and the `enqueue_*` functions,
the only code that queues the backups app's jobs: each queues once the current transaction
commits, so a job never starts before its rows exist or after a rollback."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.dateparse import parse_datetime
from django_q.tasks import async_task

from organizations.models import Organization

from . import drills, pitr, recovery_points
from .models import BackupConfig, BackupExecution
from .services import backup, restore, schedules, verify


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


def enqueue_backup_restore(
    *,
    backup: BackupExecution,
    actor=None,
    allow_cross_org: bool = False,
    strategy: str = "replace_all",
    tables: list[str] | None = None,
    conflict: str | None = None,
) -> None:
    _enqueue(
        "backups.tasks.backup_restore_task",
        backup.pk,
        getattr(actor, "pk", None),
        allow_cross_org,
        strategy,
        tables,
        conflict,
    )


def enqueue_recovery_point_create(*, organization: Organization, actor, description: str) -> None:
    _enqueue(
        "backups.tasks.recovery_point_create_task",
        organization.pk,
        getattr(actor, "pk", None),
        description,
    )


def enqueue_point_in_time_restore(*, organization: Organization, actor, as_of) -> None:
    _enqueue(
        "backups.tasks.point_in_time_restore_task",
        organization.pk,
        getattr(actor, "pk", None),
        as_of.isoformat(),
    )


def backup_create_task(organization_id: int, user_id: int | None = None) -> int:
    organization = Organization.objects.get(pk=organization_id)
    return backup.backup_create(organization=organization, actor=_user(user_id)).pk


def backup_verify_task(backup_id: int, user_id: int | None = None) -> str:
    execution = BackupExecution.objects.select_related("organization").get(pk=backup_id)
    return verify.backup_verify(backup=execution, actor=_user(user_id)).verification_status


def backup_restore_task(
    backup_id: int,
    user_id: int | None,
    allow_cross_org: bool = False,
    strategy: str = "replace_all",
    tables: list[str] | None = None,
    conflict: str | None = None,
):
    execution = BackupExecution.objects.select_related("organization").get(pk=backup_id)
    return restore.backup_restore(
        backup=execution,
        organization=execution.organization,
        actor=_user(user_id),
        allow_cross_org=allow_cross_org,
        strategy=strategy,
        tables=tables,
        conflict=conflict,
    ).pk


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


def point_in_time_restore_task(organization_id: int, user_id: int | None, as_of: str):
    organization = Organization.objects.get(pk=organization_id)
    return pitr.organization_restore_as_of(
        organization=organization, as_of=parse_datetime(as_of), actor=_user(user_id)
    ).pk


def backup_drill_task(backup_id: int, user_id: int | None = None) -> str:
    execution = BackupExecution.objects.select_related("organization").get(pk=backup_id)
    return drills.backup_drill(backup=execution, actor=_user(user_id)).status


def backup_drills_daily_task() -> int:
    return len(drills.backup_drills_daily(organizations=Organization.objects.all()))
