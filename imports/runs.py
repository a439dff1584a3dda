"""Running an import job: claim it, run it inline or as a django-q2 task, batch by batch, with
progress, cancel and resume. Re-exported by imports.services (the app's one service module)."""

import contextlib
import logging
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from organizations.models import Organization
from properties.models import Project

from .access import check_project_access
from .models import ImportJob
from .pipeline import (
    ImportPipeline,
    OnDuplicate,
    StoredRejectedRows,
    rejected_report_save,
    writer_for,
)
from .pipeline.prefetch import PROCESS, THREAD
from .readers import FileRefused, open_table

logger = logging.getLogger(__name__)

# Rows a batch commits at once. Each commit costs a few milliseconds, so 5,000 rows (about
# 0.2 s of work, the step of cancel and resume) imports ~10% faster than 1,000
# (bench_imports_large.py); three batches in memory stay a few MB.
DEFAULT_BATCH_SIZE = 5000
Status = ImportJob.Status


class ImportStopped(Exception):
    """The job was cancelled, or another worker committed a batch of it, since this worker's
    last batch: stop without writing."""


class WorkerKilled(BaseException):
    """Test-only fault injection: stands for a worker killed mid-file. A BaseException, so no
    handler marks the job failed: like a real kill, the job is left 'importing'."""


def background_threshold() -> int:
    return settings.IMPORT_BACKGROUND_THRESHOLD_ROWS


def _stale_seconds() -> int:
    return settings.IMPORT_STALE_SECONDS


def import_rows_estimate(*, job: ImportJob) -> int:
    """Rows the file holds: the preview's count when there is one, else its newlines (a
    streaming pass; a quoted multi-line cell makes it an overestimate, which is harmless)."""
    total = (job.preview or {}).get("totals", {}).get("total")
    if total is not None:
        return int(total)
    if job.file_format == ImportJob.FileFormat.XLSX:
        return job.size_bytes // 40  # compressed XML: roughly 40 bytes a row
    newlines = braces = 0
    with job.source_file.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            newlines += chunk.count(b"\n")
            braces += chunk.count(b"{")
    if job.file_format == ImportJob.FileFormat.JSON:
        # A minified JSON list is one line: count its objects' opening braces instead.
        return max(newlines, braces, 1)
    return max(newlines - 1, 1)


def _busy_message(job: ImportJob) -> str | None:
    other = (
        ImportJob.objects.filter(project_id=job.project_id, status=Status.IMPORTING)
        .exclude(pk=job.pk)
        .first()
    )
    if other is None:
        return None
    return (
        f"Import {other.pk} ({other.file_name}) is still running into this project; two imports "
        f"into one project never run at once. Start import {job.pk} again when it has finished, "
        "or cancel it."
    )


def _claim(*, job: ImportJob, from_statuses, expected_rows: int) -> None:
    """Mark the job importing, unless another import into its project is running.

    On PostgreSQL the project row is locked first, so two claims for one project queue up and
    the second sees the first's job. On SQLite (no row locks) the check and the change are one
    UPDATE statement, which SQLite runs alone."""
    with transaction.atomic():
        if connection.features.has_select_for_update:
            # The organisation row first: a backup restore holds it while it runs, so an
            # import cannot start under a restore (and a restore refuses a running import).
            Organization.objects.select_for_update().filter(pk=job.organization_id).first()
            Project.objects.select_for_update().filter(pk=job.project_id).first()
        running = ImportJob.objects.filter(
            project_id=OuterRef("project_id"), status=Status.IMPORTING
        ).exclude(pk=OuterRef("pk"))
        claimed = (
            ImportJob.objects.filter(pk=job.pk, status__in=from_statuses)
            .exclude(Exists(running))
            .update(
                status=Status.IMPORTING,
                started_at=job.started_at or timezone.now(),
                progress_at=timezone.now(),
                expected_rows=expected_rows,
                finished_at=None,
                error_summary="",
            )
        )
    if claimed:
        job.refresh_from_db()
        return
    job.refresh_from_db()
    busy = _busy_message(job)
    if busy and job.status in from_statuses:
        raise ValidationError(busy)
    if job.status == Status.FAILED and not job.started_at:
        raise ValidationError(f"Import {job.pk} was refused at the preview; upload a fixed file.")
    raise ValidationError(f"Import {job.pk} has already run (status {job.status}).")


def _dispatch(job: ImportJob) -> None:
    from django_q.tasks import async_task

    job.options = {**job.options, "background": True}
    job.save(update_fields=["options"])
    async_task(
        "imports.tasks.import_job_task",
        job.pk,
        task_name=f"import-{job.pk}",
    )


def import_start(*, job: ImportJob, actor) -> ImportJob:
    """Confirm an import: files above IMPORT_BACKGROUND_THRESHOLD_ROWS rows run as a django-q2
    task (the job page follows its progress), smaller ones inline."""
    check_project_access(actor=actor, project=job.project)
    expected = import_rows_estimate(job=job)
    _claim(job=job, from_statuses=[Status.PENDING], expected_rows=expected)
    if expected > background_threshold():
        _dispatch(job)
        job.refresh_from_db()
        return job
    return import_job_execute(job=job, actor=actor)


def import_run(*, job: ImportJob, actor, dry_run: bool | None = None, **faults) -> ImportJob:
    """Import the job's file now, in this process (the command and the bench use it)."""
    check_project_access(actor=actor, project=job.project)
    if dry_run is not None and dry_run != bool(job.options.get("dry_run")):
        job.options = {**job.options, "dry_run": dry_run}
        job.save(update_fields=["options"])
    _claim(job=job, from_statuses=[Status.PENDING], expected_rows=import_rows_estimate(job=job))
    return import_job_execute(job=job, actor=actor, **faults)


def import_resume(*, job: ImportJob, actor, inline: bool = False) -> ImportJob:
    """Re-run a job whose worker died (still 'importing' but silent for IMPORT_STALE_SECONDS)
    or that failed half-way: it continues after its last committed batch, in the background
    (or in this process with `inline`, for the resume_import command). The history keeps
    naming the job's own user."""
    check_project_access(actor=actor, project=job.project)
    job.refresh_from_db()
    if job.status == Status.IMPORTING:
        silent = (timezone.now() - (job.progress_at or job.started_at)).total_seconds()
        if silent < _stale_seconds():
            raise ValidationError(
                f"Import {job.pk} committed a batch {silent:.0f} s ago: its worker is alive. "
                f"Resume is for a job silent for {_stale_seconds()} s (a killed worker)."
            )
    elif job.status == Status.FAILED and job.started_at:
        _claim(job=job, from_statuses=[Status.FAILED], expected_rows=job.expected_rows)
    else:
        raise ValidationError(
            f"Import {job.pk} is {job.get_status_display().lower()}; only an interrupted or "
            "failed import can be resumed."
        )
    if inline:
        return import_job_execute(job=job, actor=job.user)
    _dispatch(job)
    job.refresh_from_db()
    return job


def import_cancel(*, job: ImportJob, actor) -> ImportJob:
    """Stop a pending or running import. The worker notices before its next batch; batches
    committed before that stay imported."""
    check_project_access(actor=actor, project=job.project)
    name = getattr(actor, "username", "") or "a user"
    cancelled = ImportJob.objects.filter(
        pk=job.pk, status__in=[Status.PENDING, Status.IMPORTING]
    ).update(status=Status.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    if not cancelled:
        raise ValidationError(
            f"Import {job.pk} is {job.get_status_display().lower()}; it can no longer be cancelled."
        )
    job.error_summary = (
        f"Cancelled by {name} after {job.processed_rows:,} rows. The rows of committed batches "
        f"stay imported ({job.created_count:,} created, {job.updated_count:,} updated)."
    )
    job.save(update_fields=["error_summary"])
    return job


def import_job_execute(
    *, job: ImportJob, actor, crash_after_batches: int | None = None, batch_hook=None
) -> ImportJob:
    """Run a claimed job from its resume marker to the end of the file, one transaction per
    batch. `crash_after_batches` and `batch_hook` are test-only fault injection."""
    job.refresh_from_db()
    if job.status != Status.IMPORTING:
        return job  # cancelled before its task started, or finished already
    started = time.monotonic()
    state = {"marker": job.last_committed_row, "batches": 0}
    report = StoredRejectedRows(job, already=job.rejected_count)

    @contextlib.contextmanager
    def batch_scope(result):
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    # A batch commits with its resume marker: if the server crashes before the
                    # commit reaches the disk, both are lost together and a resume redoes the
                    # batch. So the commit need not wait for the disk.
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit = off")
                # Locks the job row for the batch: a cancel waits for the batch to commit, and a
                # second worker on the same job finds the marker moved and stops.
                alive = ImportJob.objects.filter(
                    pk=job.pk, status=Status.IMPORTING, last_committed_row=state["marker"]
                ).update(progress_at=timezone.now())
                if not alive:
                    raise ImportStopped
                yield
                elapsed = time.monotonic() - started
                ImportJob.objects.filter(pk=job.pk).update(
                    total_rows=result.total,
                    processed_rows=result.processed,
                    created_count=result.created,
                    updated_count=result.updated,
                    skipped_count=result.skipped,
                    rejected_count=result.rejected,
                    last_committed_row=result.total,
                    rows_per_second=round(result.rows_this_run / elapsed, 1) if elapsed else 0,
                    progress_at=timezone.now(),
                )
        except BaseException:
            report.discard()
            raise
        state["marker"] = result.total
        state["batches"] += 1
        if batch_hook is not None:
            batch_hook(state["batches"])
        if crash_after_batches is not None and state["batches"] >= crash_after_batches:
            raise WorkerKilled(f"simulated kill after {state['batches']} batches")

    headers = []
    try:
        with job.source_file.open("rb") as source:
            reader = open_table(source, job.file_name)
            headers = reader.headers
            pipeline = ImportPipeline(
                project=job.project,
                reader=reader,
                writer=writer_for(
                    project=job.project,
                    dry_run=bool(job.options.get("dry_run")),
                    actor=actor,
                    change_reason=f"import {job.pk}",
                ),
                report=report,
                actor=actor,
                on_duplicate=job.options.get("on_duplicate", OnDuplicate.SKIP),
                batch_size=int(job.options.get("batch_size") or DEFAULT_BATCH_SIZE),
                batch_scope=batch_scope,
                # A large file is validated by a forked process, on the other core; a small
                # one (which may run inside a threaded web server) by a thread.
                prefetch=PROCESS if job.expected_rows > background_threshold() else THREAD,
                resume_after=job.last_committed_row,
                counts={
                    "total": job.last_committed_row,
                    "created": job.created_count,
                    "updated": job.updated_count,
                    "skipped": job.skipped_count,
                    "rejected": job.rejected_count,
                },
            )
            result = pipeline.run()
    except ImportStopped:
        return _stopped(job, headers)
    except FileRefused as exc:
        return _failed(job, headers, str(exc))
    except Exception as exc:
        logger.exception("Import %s failed", job.pk)
        return _failed(job, headers, f"{type(exc).__name__}: {exc}", refused=False)

    job.refresh_from_db()
    rejected_report_save(job=job, headers=headers)
    job.rows_per_second = round(result.rows_this_run / result.elapsed, 1) if result.elapsed else 0.0
    job.finished_at = timezone.now()
    if not job.rejected_count:
        job.status = Status.COMPLETED
    elif job.rejected_count == job.total_rows:
        job.status = Status.FAILED
        job.error_summary = (
            f"No valid row: all {job.total_rows} rows were rejected. "
            "Download the rejected rows to see why."
        )
    else:
        job.status = Status.COMPLETED_WITH_ERRORS
        job.error_summary = f"{job.rejected_count} of {job.total_rows} rows were rejected."
    job.save()
    return job


def _stopped(job: ImportJob, headers) -> ImportJob:
    job.refresh_from_db()
    if job.status == Status.CANCELLED:
        rejected_report_save(job=job, headers=headers)
        job.finished_at = job.finished_at or timezone.now()
        job.save()
    return job


def _failed(job: ImportJob, headers, message: str, *, refused: bool = True) -> ImportJob:
    job.refresh_from_db()
    if headers:
        rejected_report_save(job=job, headers=headers)
    if job.last_committed_row:
        message = (
            f"The import stopped after row {job.last_committed_row:,} of the file: {message}. "
            f"The {job.last_committed_row:,} rows of committed batches stay imported; resume "
            "the job to continue after them once the cause is fixed."
        )
    elif not refused:
        message = f"The import failed and nothing was written: {message}"
    job.status = Status.FAILED
    job.error_summary = message
    job.finished_at = timezone.now()
    job.save()
    return job
