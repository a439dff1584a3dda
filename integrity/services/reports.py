"""Integrity reports: run every check over an organisation, store the counts, alert on error
checks whose count rose."""

import time
from contextlib import contextmanager

from django.db import connection, transaction

from organizations.access import Scope
from organizations.models import Organization

from ..checks import CHECKS, ERROR, WARNING, quality_metrics
from ..models import DataIntegrityReport, IntegrityAlert
from .alerts import alert_clear, alert_raise
from .backup_alerts import backup_alerts_evaluate

RUN_PERMISSION = "integrity.add_dataintegrityreport"
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


def integrity_check_run(
    *,
    organization: Organization,
    actor=None,
    trigger: str = DataIntegrityReport.Trigger.COMMAND,
) -> DataIntegrityReport | None:
    """One integrity run, as the schedule, the admin and the command start it: the report
    under the organisation's run lock, then the backup alerts. None when a run of the
    organisation is still going (skipped, not doubled)."""
    Scope.of(actor).require(RUN_PERMISSION, organization=organization)
    with integrity_run_lock(organization=organization) as acquired:
        if not acquired:
            return None
        report = integrity_report_create(organization=organization, actor=actor, trigger=trigger)
    backup_alerts_evaluate(organization=organization)
    return report


def _check_result(check, organization: Organization) -> dict:
    count = check.count(organization)
    return {
        "slug": check.slug,
        "title": check.title,
        "severity": check.severity,
        "description": check.description,
        "model": check.model._meta.model_name,
        "count": count,
        "samples": check.samples(organization) if count else [],
    }


def integrity_report_create(
    *,
    organization: Organization,
    actor=None,
    trigger: str = DataIntegrityReport.Trigger.COMMAND,
) -> DataIntegrityReport:
    """Run every check over `organization` and store the report; alert on error checks whose
    count rose since the previous report. Raises AccessDenied when `actor` may not run checks
    there."""
    Scope.of(actor).require(RUN_PERMISSION, organization=organization)
    started = time.perf_counter()
    results = [_check_result(check, organization) for check in CHECKS]
    breakdown = {ERROR: 0, WARNING: 0}
    for result in results:
        breakdown[result["severity"]] += result["count"]
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
            _raise_check_rose(report, result, previous_count)


def _raise_check_rose(report: DataIntegrityReport, result: dict, previous_count: int) -> None:
    organization = report.organization
    alert_raise(
        organization=organization,
        kind=IntegrityAlert.Kind.CHECK_ROSE,
        condition=f"check:{result['slug']}",
        subject=f"[{organization.slug}] {result['title']}: {previous_count} -> {result['count']}",
        message=(
            f"The integrity check {result['slug']} ({result['title']}) of "
            f"{organization.name} found {result['count']} issue(s), up from "
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
