"""Reads of import jobs, through the access gateway."""

from django.db.models import QuerySet

from organizations.access import Scope

from .models import ImportJob


def import_job_list(*, actor, project=None) -> QuerySet[ImportJob]:
    """The import jobs the actor may see (of one project, when given)."""
    queryset = Scope.of(actor).filter(ImportJob.objects.select_related("project", "user"))
    if project is not None:
        queryset = queryset.filter(project=project)
    return queryset


def import_job_get(*, actor, job_id: int) -> ImportJob:
    """One job the actor may see; another organisation's is `ImportJob.DoesNotExist`, like a
    missing one."""
    return import_job_list(actor=actor).get(pk=job_id)


def import_progress(*, job: ImportJob) -> dict:
    """A job's progress for the live progress bar (the caller has checked the tenant)."""
    expected = max(job.expected_rows, job.total_rows)
    done = job.processed_rows
    finished = job.is_finished
    if job.status in {ImportJob.Status.COMPLETED, ImportJob.Status.COMPLETED_WITH_ERRORS}:
        percent = 100.0
    elif expected:
        # An estimate (a newline count) can be a little off: never show 100% before the end.
        percent = min(round(100 * done / expected, 1), 99.9)
    else:
        percent = 0.0
    rate = job.rows_per_second or 0
    running = job.status == ImportJob.Status.IMPORTING
    eta = round((expected - done) / rate) if running and rate and expected > done else None
    return {
        "id": job.pk,
        "status": job.status,
        "status_display": job.get_status_display(),
        "finished": finished,
        "expected_rows": expected,
        "processed_rows": done,
        "created": job.created_count,
        "updated": job.updated_count,
        "skipped": job.skipped_count,
        "rejected": job.rejected_count,
        "percent": percent,
        "rows_per_second": round(rate),
        "eta_seconds": eta,
        "last_committed_row": job.last_committed_row,
        "error_summary": job.error_summary,
    }
