"""django-q2 entry points: load rows by id, call one service."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django_q.tasks import async_task

from organizations.models import Organization

from . import services
from .models import BackupConfig, BackupExecution


def _user(user_id):
    return get_user_model().objects.filter(pk=user_id).first() if user_id else None


def backup_create_task(organization_id: int, user_id: int | None = None) -> int:
    organization = Organization.objects.get(pk=organization_id)
    return services.backup_create(organization=organization, actor=_user(user_id)).pk


def backup_verify_task(backup_id: int, user_id: int | None = None) -> str:
    backup = BackupExecution.objects.select_related("organization").get(pk=backup_id)
    return services.backup_verify(backup=backup, actor=_user(user_id)).verification_status


def backup_restore_task(
    backup_id: int,
    user_id: int | None,
    allow_cross_org: bool = False,
    strategy: str = "replace_all",
    tables: list[str] | None = None,
    conflict: str | None = None,
):
    backup = BackupExecution.objects.select_related("organization").get(pk=backup_id)
    return services.backup_restore(
        backup=backup,
        organization=backup.organization,
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
    execution = services.backup_scheduled_run(config=config)
    return execution.pk if execution else None


def recovery_point_create_task(organization_id: int, user_id: int | None, description: str):
    from .recovery_points import recovery_point_create

    organization = Organization.objects.get(pk=organization_id)
    return recovery_point_create(
        organization=organization, description=description, actor=_user(user_id)
    ).pk


def enqueue_recovery_point_create(*, organization, actor, description: str) -> None:
    """Queues a recovery point once the current transaction commits."""
    transaction.on_commit(
        lambda: async_task(
            "backups.tasks.recovery_point_create_task",
            organization.pk,
            getattr(actor, "pk", None),
            description,
        )
    )


def point_in_time_restore_task(organization_id: int, user_id: int | None, as_of: str):
    from django.utils.dateparse import parse_datetime

    from .pitr import organization_restore_as_of

    organization = Organization.objects.get(pk=organization_id)
    return organization_restore_as_of(
        organization=organization, as_of=parse_datetime(as_of), actor=_user(user_id)
    ).pk


def enqueue_point_in_time_restore(*, organization, actor, as_of) -> None:
    """Queues a point-in-time restore once the current transaction commits."""
    transaction.on_commit(
        lambda: async_task(
            "backups.tasks.point_in_time_restore_task",
            organization.pk,
            getattr(actor, "pk", None),
            as_of.isoformat(),
        )
    )
