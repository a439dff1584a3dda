"""django-q2 entry points: take ids, load rows, call one service."""

from django.contrib.auth import get_user_model

from organizations.models import Organization

from .models import DataIntegrityReport, IntegrityAlert
from .services import (
    alert_deliver,
    backup_alerts_evaluate,
    integrity_report_create,
    integrity_run_lock,
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
    with integrity_run_lock(organization=organization) as acquired:
        if not acquired:
            # The previous run for this organisation is still going: skip, do not double.
            return None
        report = integrity_report_create(organization=organization, actor=actor, trigger=trigger)
    backup_alerts_evaluate(organization=organization)
    return report.pk


def backup_watch_task() -> int:
    organizations = list(Organization.objects.all())
    for organization in organizations:
        backup_alerts_evaluate(organization=organization)
    return len(organizations)


def alert_deliver_task(alert_id: int) -> str:
    alert = IntegrityAlert.objects.select_related("organization").get(pk=alert_id)
    return alert_deliver(alert=alert).webhook_status
