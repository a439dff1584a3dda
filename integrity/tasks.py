"""django-q2 entry points (take ids, load rows, call one service) and the `enqueue_*`
functions, the only code that queues the integrity app's jobs: each queues once the current
transaction commits, so a job never starts before its rows exist or after a rollback."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django_q.tasks import async_task

from organizations.models import Organization

from .models import DataIntegrityReport, IntegrityAlert
from .services.alerts import alert_deliver
from .services.backup_alerts import backup_watch_run
from .services.reports import integrity_check_run


def enqueue_integrity_check(
    *, organization: Organization, actor=None, trigger: str = DataIntegrityReport.Trigger.ADMIN
) -> None:
    actor_id = getattr(actor, "pk", None)
    transaction.on_commit(
        lambda: async_task(
            "integrity.tasks.integrity_check_task",
            organization.pk,
            trigger=trigger,
            actor_id=actor_id,
            group=f"integrity-check:{organization.pk}",
        )
    )


def enqueue_alert_delivery(*, alert: IntegrityAlert) -> None:
    transaction.on_commit(
        lambda: async_task("integrity.tasks.alert_deliver_task", alert.pk, group="alerts")
    )


def integrity_check_task(
    organization_id: int,
    trigger: str = DataIntegrityReport.Trigger.SCHEDULE,
    actor_id: int | None = None,
) -> int | None:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    report = integrity_check_run(organization=organization, actor=actor, trigger=trigger)
    return report.pk if report else None


def backup_watch_task() -> int:
    return backup_watch_run()


def alert_deliver_task(alert_id: int) -> str:
    alert = IntegrityAlert.objects.select_related("organization").get(pk=alert_id)
    return alert_deliver(alert=alert).webhook_status
