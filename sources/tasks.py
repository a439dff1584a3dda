"""django-q2 entry points and the one place that queues source syncs."""

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import DataSource, SyncRun


def enqueue_source_sync(
    *, source_id: int, actor_id: int | None = None, trigger: str = SyncRun.Trigger.MANUAL
) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "sources.tasks.source_sync_task",
            source_id,
            actor_id,
            trigger,
            task_name=f"source-sync-{source_id}",
        )
    )


def source_sync_task(
    source_id: int, actor_id: int | None = None, trigger: str = SyncRun.Trigger.MANUAL
) -> int | None:
    from .services import source_sync

    source = DataSource.objects.select_related("project").filter(pk=source_id).first()
    if source is None:
        return None
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return source_sync(source=source, actor=actor, trigger=trigger).pk


def source_scheduled_sync_task(source_id: int) -> int | None:
    """What a source's schedule calls: a run still going makes this one a recorded skip. The
    schedule of a source deleted with its project removes itself."""
    if not DataSource.objects.filter(pk=source_id).exists():
        from django_q.models import Schedule

        Schedule.objects.filter(name=f"source-sync-{source_id}").delete()
        return None
    return source_sync_task(source_id, None, SyncRun.Trigger.SCHEDULE)
