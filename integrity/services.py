"""Writes of the integrity app: reports, their schedules, and alerts."""

import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from backups.models import BackupConfig, BackupExecution
from organizations.models import Organization, Profile

from .checks import CHECKS, ERROR, WARNING, quality_metrics
from .models import DataIntegrityReport, IntegrityAlert

logger = logging.getLogger(__name__)

SCHEDULE_PREFIX = "integrity-check:"
BACKUP_WATCH_SCHEDULE = "integrity-backup-watch"
#: Daily runs start at this UTC hour, spread over the following two hours by organisation so
#: that every organisation's checks do not hit the database at the same minute.
SCHEDULE_HOUR_UTC = 2
WEBHOOK_TIMEOUT_SECONDS = 5


# --- reports -------------------------------------------------------------------------------


#: First key of the advisory lock that marks an organisation's integrity run as in progress.
RUN_LOCK_NAMESPACE = 0x1D7E


@contextmanager
def integrity_run_lock(*, organization: Organization):
    """Yields whether this process may run the organisation's checks now.

    On PostgreSQL a session advisory lock, held for the run, makes a second run (a schedule
    that fires while the previous run still goes) yield False. SQLite, the single-writer
    development database, needs no lock.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK_NAMESPACE, organization.pk])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_NAMESPACE, organization.pk]
                )


def integrity_report_create(
    *,
    organization: Organization,
    actor=None,
    trigger: str = DataIntegrityReport.Trigger.COMMAND,
) -> DataIntegrityReport:
    """Run every check over `organization` and store the report; alert on error checks whose
    count rose since the previous report."""
    started = time.perf_counter()
    results = []
    breakdown = {ERROR: 0, WARNING: 0}
    for check in CHECKS:
        count = check.count(organization)
        results.append(
            {
                "slug": check.slug,
                "title": check.title,
                "severity": check.severity,
                "description": check.description,
                "model": check.model._meta.model_name,
                "count": count,
                "samples": check.samples(organization) if count else [],
            }
        )
        breakdown[check.severity] += count
    metrics = quality_metrics(organization)
    duration_ms = round((time.perf_counter() - started) * 1000)
    with transaction.atomic():
        report = DataIntegrityReport.objects.create(
            organization=organization,
            check_results=results,
            total_issues=sum(breakdown.values()),
            severity_breakdown=breakdown,
            metrics=metrics,
            duration_ms=duration_ms,
            trigger=trigger,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        _alert_on_rising_errors(report=report)
    return report


def _alert_on_rising_errors(*, report: DataIntegrityReport) -> None:
    previous = (
        DataIntegrityReport.objects.filter(organization=report.organization)
        .exclude(pk=report.pk)
        .filter(created_at__lte=report.created_at)
        .order_by("-created_at", "-id")
        .first()
    )
    for result in report.check_results:
        if result["severity"] != ERROR:
            continue
        condition = f"check:{result['slug']}"
        previous_count = (previous.count_for(result["slug"]) if previous else None) or 0
        if result["count"] == 0:
            alert_clear(organization=report.organization, condition=condition)
        elif result["count"] > previous_count:
            alert_raise(
                organization=report.organization,
                kind=IntegrityAlert.Kind.CHECK_ROSE,
                condition=condition,
                subject=(
                    f"[{report.organization.slug}] {result['title']}: "
                    f"{previous_count} -> {result['count']}"
                ),
                message=(
                    f"The integrity check {result['slug']} ({result['title']}) of "
                    f"{report.organization.name} found {result['count']} issue(s), up from "
                    f"{previous_count} in the previous report.\n{result['description']}"
                ),
                payload={
                    "check": result["slug"],
                    "severity": result["severity"],
                    "count": result["count"],
                    "previous_count": previous_count,
                    "report_id": report.pk,
                },
                report=report,
            )


# --- schedules -----------------------------------------------------------------------------


def _first_run(organization: Organization, now: datetime) -> datetime:
    offset = timedelta(hours=SCHEDULE_HOUR_UTC, minutes=(organization.pk * 17) % 120)
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight + offset
    return first if first > now else first + timedelta(days=1)


def integrity_schedule_sync(*, organization: Organization) -> Schedule:
    """The organisation's daily integrity schedule, created when missing. An existing schedule
    keeps its next run, so syncing again never shifts or doubles it."""
    schedule, created = Schedule.objects.get_or_create(
        name=f"{SCHEDULE_PREFIX}{organization.pk}",
        defaults={
            "func": "integrity.tasks.integrity_check_task",
            "kwargs": f"organization_id={organization.pk}",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": _first_run(organization, timezone.now()),
        },
    )
    expected = {
        "func": "integrity.tasks.integrity_check_task",
        "kwargs": f"organization_id={organization.pk}",
        "schedule_type": Schedule.DAILY,
        "repeats": -1,
    }
    if not created and any(getattr(schedule, key) != value for key, value in expected.items()):
        for key, value in expected.items():
            setattr(schedule, key, value)
        schedule.save()
    return schedule


def integrity_schedules_sync() -> dict:
    """One daily schedule per organisation and one hourly backup watch, derived from the
    organisations table; schedules of organisations that no longer exist are removed."""
    with transaction.atomic():
        organizations = list(Organization.objects.all())
        for organization in organizations:
            integrity_schedule_sync(organization=organization)
        wanted = {f"{SCHEDULE_PREFIX}{organization.pk}" for organization in organizations}
        stale = Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).exclude(name__in=wanted)
        removed = stale.count()
        stale.delete()
        Schedule.objects.update_or_create(
            name=BACKUP_WATCH_SCHEDULE,
            defaults={
                "func": "integrity.tasks.backup_watch_task",
                "schedule_type": Schedule.HOURLY,
                "repeats": -1,
            },
        )
    return {"organizations": len(organizations), "removed": removed}


def schedule_tables_exist(using: str = "default") -> bool:
    tables = set(connection.introspection.table_names())
    return {Schedule._meta.db_table, Organization._meta.db_table} <= tables


# --- alerts --------------------------------------------------------------------------------


def alert_raise(
    *,
    organization: Organization,
    kind: str,
    condition: str,
    subject: str,
    message: str,
    payload: dict,
    report: DataIntegrityReport | None = None,
) -> IntegrityAlert | None:
    """Record and send an alert, unless the same condition already has an open alert."""
    if IntegrityAlert.objects.filter(
        organization=organization, condition=condition, cleared_at__isnull=True
    ).exists():
        return None
    recipients = list(
        Profile.objects.filter(
            organization=organization, role=Profile.Role.ADMIN, user__is_active=True
        )
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    webhook_url = str((organization.settings or {}).get("alert_webhook_url") or "")
    try:
        # The partial unique constraint settles a race between two runs: one alert wins.
        with transaction.atomic():
            alert = IntegrityAlert.objects.create(
                organization=organization,
                kind=kind,
                condition=condition,
                subject=subject[:200],
                message=message,
                payload=payload,
                report=report,
                email_recipients=recipients,
                webhook_url=webhook_url,
            )
    except IntegrityError:
        return None
    transaction.on_commit(
        lambda: async_task("integrity.tasks.alert_deliver_task", alert.pk, group="alerts")
    )
    return alert


def alert_clear(*, organization: Organization, condition: str) -> int:
    return IntegrityAlert.objects.filter(
        organization=organization, condition=condition, cleared_at__isnull=True
    ).update(cleared_at=timezone.now())


def alert_payload(alert: IntegrityAlert) -> dict:
    return {
        "organization": alert.organization.slug,
        "kind": alert.kind,
        "condition": alert.condition,
        "subject": alert.subject,
        "message": alert.message,
        "details": alert.payload,
        "alert_id": alert.pk,
        "created_at": alert.created_at.isoformat(),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers; it does not send the server elsewhere (another scheme, an internal
    host) after the address was checked."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(newurl, code, f"redirect to {newurl} refused", headers, fp)


_WEBHOOK_OPENER = urllib.request.build_opener(_NoRedirects)


def webhook_refusal(url: str) -> str | None:
    """Why the server must not POST to `url`, or None. An organisation's setting must not make
    the server read its own files (file://) or reach hosts inside its network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError) as error:
        return f"cannot resolve {parts.hostname}: {error}"
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            return f"{parts.hostname} resolves to a private or local address ({address})"
    return None


def alert_deliver(*, alert: IntegrityAlert) -> IntegrityAlert:
    """E-mail the organisation's admins and POST the JSON payload to its webhook. A webhook
    that fails is recorded on the alert; it does not stop the e-mail."""
    if alert.email_recipients:
        send_mail(alert.subject, alert.message, None, alert.email_recipients)
    refusal = webhook_refusal(alert.webhook_url) if alert.webhook_url else None
    if refusal:
        alert.webhook_status = f"refused: {refusal}"
    elif alert.webhook_url:
        body = json.dumps(alert_payload(alert)).encode()
        request = urllib.request.Request(
            alert.webhook_url,
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with _WEBHOOK_OPENER.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                alert.webhook_status = f"sent ({response.status})"
        except (urllib.error.URLError, OSError, ValueError) as error:
            logger.warning("Alert %s webhook failed: %s", alert.pk, error)
            alert.webhook_status = f"failed: {error}"[:300]
    else:
        alert.webhook_status = "not configured"
    alert.delivered_at = timezone.now()
    alert.save(update_fields=["webhook_status", "delivered_at"])
    return alert


# --- backup alerts (the backups app may not be installed) -----------------------------------


def backup_execution_alert(*, execution) -> None:
    """A failed backup alerts once; the next completed backup clears that condition."""
    organization = execution.organization
    if execution.status == "failed":
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
    elif execution.status == "completed":
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


def backup_alerts_evaluate(*, organization: Organization, now: datetime | None = None) -> None:
    """Alert when an active backup config has had no completed backup for twice its schedule
    interval; clear the alert once a backup completes in time."""
    now = now or timezone.now()
    last_completed = (
        BackupExecution.objects.filter(organization=organization, status="completed")
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
            alert_raise(
                organization=organization,
                kind=IntegrityAlert.Kind.BACKUP_OVERDUE,
                condition=condition,
                subject=(
                    f"[{organization.slug}] No completed backup for over {_duration(2 * interval)}"
                ),
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
        else:
            alert_clear(organization=organization, condition=condition)
    # A config switched off or removed no longer has an overdue condition.
    IntegrityAlert.objects.filter(
        organization=organization,
        kind=IntegrityAlert.Kind.BACKUP_OVERDUE,
        cleared_at__isnull=True,
    ).exclude(condition__in=watched).update(cleared_at=now)
