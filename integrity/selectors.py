"""Reads of the integrity app. Every selector is scoped to an organisation or, through the
access gateway, to what a user may see."""

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from backups.models import BackupDrill, BackupExecution
from imports.models import ImportJob
from organizations.access import Scope
from organizations.models import Organization

from .checks import COMPLETENESS_FIELDS, REGISTRY
from .models import DataIntegrityReport

TREND_DAYS = 90
RECENT_IMPORTS = 5


def report_list(*, organization: Organization) -> QuerySet:
    return DataIntegrityReport.objects.filter(organization=organization)


def report_get(*, user, report_id: int) -> DataIntegrityReport:
    """One report the user may see; `DoesNotExist` for a missing report and another
    organisation's alike."""
    return Scope.of(user).get(
        DataIntegrityReport.objects.select_related("organization"), pk=report_id
    )


def report_trend(
    *, organization: Organization, until: datetime | None = None, days: int = TREND_DAYS
) -> list[dict]:
    """Per report of the last `days` days, oldest first: its time, each check's count and
    each field's completeness."""
    until = until or timezone.now()
    reports = (
        report_list(organization=organization)
        .filter(created_at__gte=until - timedelta(days=days), created_at__lte=until)
        .order_by("created_at", "id")
        .values("created_at", "check_results", "metrics")
    )
    return [
        {
            "created_at": report["created_at"],
            "counts": {result["slug"]: result["count"] for result in report["check_results"]},
            "completeness": (report["metrics"] or {}).get("completeness", {}),
        }
        for report in reports
    ]


def check_rows(report: DataIntegrityReport) -> list[dict]:
    """The report's check results with links: each sample to its admin page, each check to
    the changelist filtered to exactly its offending rows."""
    rows = []
    for result in report.check_results:
        model_name = result.get("model", "property")
        changelist = reverse(f"admin:properties_{model_name}_changelist")
        check = REGISTRY.get(result["slug"])
        rows.append(
            {
                **result,
                "known": check is not None,
                "changelist_url": (
                    f"{changelist}?integrity_check={result['slug']}"
                    f"&organization__id__exact={report.organization_id}"
                ),
                "samples": [
                    {
                        **sample,
                        "url": reverse(
                            f"admin:properties_{model_name}_change", args=[sample["id"]]
                        ),
                    }
                    for sample in result.get("samples", [])
                ],
            }
        )
    return rows


def completeness_rows(report: DataIntegrityReport) -> list[dict]:
    completeness = (report.metrics or {}).get("completeness", {})
    return [
        {
            "field": field.replace("_", " "),
            "share": completeness.get(field),
            "percent": None if completeness.get(field) is None else completeness[field] * 100,
        }
        for field in COMPLETENESS_FIELDS
    ]


def dashboard_rows(*, user) -> list[dict]:
    """For the admin index: per organisation the user may see, its latest integrity report,
    latest backup and recent import throughput."""
    rows = []
    for organization in Scope.of(user).organizations().order_by("name"):
        row = {
            "organization": organization,
            "report": report_list(organization=organization).first(),
            "drill": BackupDrill.objects.filter(organization=organization).first(),
            # The most recently created execution, started or not.
            "backup": BackupExecution.objects.filter(organization=organization)
            .order_by("-pk")
            .first(),
        }
        jobs = list(
            ImportJob.objects.filter(organization=organization).order_by("-created_at", "-pk")[
                :RECENT_IMPORTS
            ]
        )
        # Throughput of real imports only: a preview or dry run wrote nothing.
        rates = [job.rows_per_second for job in jobs if job.rows_per_second and not job.is_preview]
        row["imports"] = jobs
        row["import_rows_per_second"] = sum(rates) / len(rates) if rates else None
        row["timed_imports"] = len(rates)
        rows.append(row)
    return rows
