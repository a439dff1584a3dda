"""Alerts on backup outcomes: a failed backup, and a schedule with no completed backup in time.

The backups service reports each finished backup through `backups.services.on_backup_finished`,
where `integrity.apps` registers `backup_execution_alert`; the hourly watch and each integrity
run call `backup_alerts_evaluate`.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from backups.models import BackupConfig, BackupExecution
from organizations.models import Organization

from ..models import IntegrityAlert
from .alerts import alert_clear, alert_raise


def backup_execution_alert(*, execution: BackupExecution) -> None:
    """A failed backup alerts once; the next completed backup clears that condition."""
    organization = execution.organization
    if execution.status == BackupExecution.Status.FAILED:
        alert_raise(
            organization=organization,
            kind=IntegrityAlert.Kind.BACKUP_FAILED,
            condition="backup_failed",
            subject=f"[{organization.slug}] Backup #{execution.pk} failed",
            message=(
                f"Backup #{execution.pk} of {organization.name} failed: "
                f"{execution.error_message or 'no error message'}"
            ),
            payload={"backup_id": execution.pk, "error": execution.error_message},
        )
    elif execution.status == BackupExecution.Status.COMPLETED:
        alert_clear(organization=organization, condition="backup_failed")
        backup_alerts_evaluate(organization=organization)


def _duration(interval: timedelta) -> str:
    hours = round(interval.total_seconds() / 3600)
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} days"
    return f"{hours} hours" if hours != 1 else "1 hour"


def cron_interval(expression: str, *, now: datetime) -> timedelta:
    from croniter import croniter

    schedule = croniter(expression, now)
    first = schedule.get_next(datetime)
    return schedule.get_next(datetime) - first


def _on_clock(organization: Organization, moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return f"{organization.local_time(moment):%Y-%m-%d %H:%M %Z}"


def _raise_overdue(organization, config, interval, last_completed) -> None:
    alert_raise(
        organization=organization,
        kind=IntegrityAlert.Kind.BACKUP_OVERDUE,
        condition=f"backup_overdue:{config.pk}",
        subject=f"[{organization.slug}] No completed backup for over {_duration(2 * interval)}",
        message=(
            f"The backup schedule '{config.schedule_cron}' of {organization.name} runs "
            f"every {_duration(interval)}; the last completed backup was "
            f"{_on_clock(organization, last_completed)}."
        ),
        payload={
            "backup_config_id": config.pk,
            "schedule_cron": config.schedule_cron,
            "last_completed_at": last_completed.isoformat() if last_completed else None,
        },
    )


def backup_alerts_evaluate(*, organization: Organization, now: datetime | None = None) -> None:
    """Alert when an active backup config has had no completed backup for twice its schedule
    interval; clear the alert once a backup completes in time."""
    now = now or timezone.now()
    last_completed = (
        BackupExecution.objects.filter(
            organization=organization, status=BackupExecution.Status.COMPLETED
        )
        .exclude(completed_at__isnull=True)
        .order_by("-completed_at")
        .values_list("completed_at", flat=True)
        .first()
    )
    watched = set()
    for config in BackupConfig.objects.filter(organization=organization, is_active=True):
        condition = f"backup_overdue:{config.pk}"
        watched.add(condition)
        interval = cron_interval(config.schedule_cron, now=now)
        since = last_completed or getattr(config, "created_at", None)
        if since is None or now - since > 2 * interval:
            _raise_overdue(organization, config, interval, last_completed)
        else:
            alert_clear(organization=organization, condition=condition)
    # A config switched off or removed no longer has an overdue condition.
    IntegrityAlert.objects.filter(
        organization=organization,
        kind=IntegrityAlert.Kind.BACKUP_OVERDUE,
        cleared_at__isnull=True,
    ).exclude(condition__in=watched).update(cleared_at=now)


def backup_watch_run() -> int:
    """The hourly watch: evaluate every organisation's backup alerts; how many were checked."""
    organizations = list(Organization.objects.all())
    for organization in organizations:
        backup_alerts_evaluate(organization=organization)
    return len(organizations)


def drill_alert(*, drill) -> None:
    """A failed restore drill alerts once; the next passing drill clears it."""
    organization = drill.organization
    if drill.status == "failed":
        alert_raise(
            organization=organization,
            kind=IntegrityAlert.Kind.DRILL_FAILED,
            condition="drill_failed",
            subject=f"[{organization.slug}] Restore drill of backup #{drill.backup_id} failed",
            message=f"The restore drill of backup #{drill.backup_id} failed: {drill.message}",
            payload={"drill_id": drill.pk, "backup_id": drill.backup_id, "error": drill.message},
        )
    elif drill.status == "passed":
        alert_clear(organization=organization, condition="drill_failed")


def drill_checks(organization) -> list[dict]:
    """The integrity checks' counts over the tables the connection sees (a drill's copy)."""
    from ..checks import CHECKS

    return [
        {"slug": check.slug, "severity": check.severity, "count": check.count(organization)}
        for check in CHECKS
    ]
