"""Restores started from the admin, which never run inside a request.

The admin records the restore `pending` (a dry-run plan, or the restore a plan was confirmed
for) and a django-q2 task runs it; the admin's plan and restore pages read the row, refreshing
themselves until it has an outcome. Commands run their restores, dry runs included, in their
own process (`backup_restore`, `organization_restore_as_of`).
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from organizations.models import Organization

from .. import tasks
from ..models import BackupExecution, RestoreExecution
from ..pitr import restore_as_of_run
from .permissions import BackupRefused
from .restore import require_restorer, restore_failed, restore_fields, restore_run
from .runs import RunLock

Status = RestoreExecution.Status


def restore_queue(
    *,
    organization: Organization,
    actor,
    dry_run: bool,
    backup: BackupExecution | None = None,
    as_of: datetime | None = None,
    strategy: str = RestoreExecution.Strategy.REPLACE_ALL,
    tables: list[str] | None = None,
    conflict: str | None = None,
    allow_cross_org: bool = False,
) -> RestoreExecution:
    """Records a pending restore of the organisation, from `backup` or (strategy
    point_in_time) to the instant `as_of`, and queues its task on commit. An actor who may not
    restore the organisation is refused (BackupRefused) and nothing is recorded; every other
    refusal is the task's, recorded on the row."""
    require_restorer(actor, organization, allow_cross_org=allow_cross_org)
    if strategy == RestoreExecution.Strategy.POINT_IN_TIME and as_of is None:
        raise BackupRefused("A point-in-time restore needs the instant to restore to.")
    if strategy != RestoreExecution.Strategy.POINT_IN_TIME and backup is None:
        raise BackupRefused("The backup to restore from no longer exists.")
    if as_of is not None and timezone.is_naive(as_of):
        as_of = timezone.make_aware(as_of)
    restore = RestoreExecution.objects.create(
        organization=organization,
        actor=actor,
        status=Status.PENDING,
        **restore_fields(
            backup=backup,
            strategy=strategy,
            dry_run=dry_run,
            tables=tables,
            conflict=conflict,
            as_of=as_of,
        ),
    )
    tasks.enqueue_restore_execute(restore=restore, allow_cross_org=allow_cross_org)
    return restore


def restore_confirm(*, plan: RestoreExecution, actor, allow_cross_org: bool = False):
    """Queues the restore a completed dry-run plan showed: the same backup or instant,
    strategy, tables and conflict policy. A plan is confirmed once: the plan row, locked,
    records the restore it became (report["confirmed_as"]), so a second confirmation (a
    double click) is refused instead of queuing a second restore."""
    with transaction.atomic():
        plan = RestoreExecution.objects.select_for_update().get(pk=plan.pk)
        if not plan.dry_run or plan.status != Status.COMPLETED:
            raise BackupRefused(
                f"Restore {plan.pk} is not a finished plan; plan the restore again."
            )
        confirmed_as = (plan.report or {}).get("confirmed_as")
        if confirmed_as is not None:
            raise BackupRefused(f"This plan was already confirmed as restore {confirmed_as}.")
        restore = restore_queue(
            organization=plan.organization,
            actor=actor,
            dry_run=False,
            backup=plan.backup
            if plan.strategy != RestoreExecution.Strategy.POINT_IN_TIME
            else None,
            as_of=plan.as_of,
            strategy=plan.strategy,
            tables=plan.tables or None,
            conflict=plan.conflict_policy or None,
            allow_cross_org=allow_cross_org,
        )
        plan.report = {**(plan.report or {}), "confirmed_as": restore.pk}
        plan.save(update_fields=["report"])
    return restore


def restore_execute(*, restore: RestoreExecution, allow_cross_org: bool = False):
    """The worker's part: claims the pending restore (running, under its run lock) and runs
    it. A restore already claimed (a repeated delivery of the task) is left alone; refusals
    and failures are recorded on the row, whose outcome is returned."""
    with transaction.atomic():
        claimed = RestoreExecution.objects.filter(pk=restore.pk, status=Status.PENDING).update(
            status=Status.RUNNING
        )
        if not claimed:
            restore.refresh_from_db()
            return restore
        restore.status = Status.RUNNING
        lock = RunLock(restore)
    try:
        if restore.strategy == RestoreExecution.Strategy.POINT_IN_TIME:
            restore_as_of_run(restore)
        else:
            restore_run(restore, allow_cross_org=allow_cross_org)
    except BackupRefused:
        pass  # recorded on the row by the restore itself
    except Exception as exc:
        # An error the restore does not record itself: the row says so, not "worker stopped".
        if restore.status == Status.RUNNING:
            restore_failed(restore, exc)
        raise
    finally:
        lock.release()
    return restore
