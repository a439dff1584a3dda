"""How an import job runs: one pipeline per run, assembled in one place, a claim under the
organisation lock, one transaction per batch carrying the resume marker, and the failure
helpers. The public verbs are in `jobs`; nothing else calls this module."""

import contextlib
import logging
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from organizations.locks import organization_lock
from properties.models import Project

from ..models import ImportJob
from ..pipeline import (
    ImportPipeline,
    OnDuplicate,
    RejectedRowsReport,
    StoredRejectedRows,
    rejected_report_save,
    writer_for,
)
from ..pipeline.prefetch import PROCESS, THREAD
from ..readers import FileRefused, open_table

logger = logging.getLogger(__name__)

# Rows a batch commits at once: the step of cancel and resume. docs/imports.md gives the
# measurements behind the default.
DEFAULT_BATCH_SIZE = 5000
Status = ImportJob.Status
#: What a user reads when a run raised something no rule foresaw: the exception and its
#: driver text (table names, SQL) go to the server log, under the job's id.
UNEXPECTED = "an unexpected error stopped it (the server log has the details)"


class ImportStopped(Exception):
    """The job was cancelled, or another worker committed a batch of it, since this worker's
    last batch: stop without writing."""


def batch_committed(job: ImportJob, batches: int) -> None:
    """Called after each batch a run commits, with the number committed so far in this run.

    Does nothing. It is the one seam the tests patch (monkeypatch) to stop or pause a worker
    between batches, so no production signature carries fault injection."""


def background_threshold() -> int:
    return settings.IMPORT_BACKGROUND_THRESHOLD_ROWS


def belongs_in_background(job: ImportJob, rows: int) -> bool:
    """Whether a preview or import of `job` (about `rows` rows) runs as a task: a long file,
    or a large one whatever its row count (one huge JSON item is one row), so that the web
    process never parses a large file."""
    return (
        rows > background_threshold() or job.size_bytes > settings.IMPORT_BACKGROUND_THRESHOLD_BYTES
    )


def stale_seconds() -> int:
    return settings.IMPORT_STALE_SECONDS


def _pipeline_for(
    job: ImportJob,
    *,
    actor,
    reader,
    report,
    dry_run: bool,
    batch_scope=None,
    prefetch: str = THREAD,
    resume: bool = False,
) -> ImportPipeline:
    """The pipeline of one run of `job`: its project, options and writer; a resumed run
    starts after the job's marker with its counts."""
    options = {}
    if batch_scope is not None:
        options["batch_scope"] = batch_scope
    if resume:
        options["resume_after"] = job.last_committed_row
        options["counts"] = {
            "total": job.last_committed_row,
            "created": job.created_count,
            "updated": job.updated_count,
            "skipped": job.skipped_count,
            "rejected": job.rejected_count,
            "warned": job.warned_count,
        }
    return ImportPipeline(
        project=job.project,
        reader=reader,
        writer=writer_for(
            project=job.project, dry_run=dry_run, actor=actor, change_reason=f"import {job.pk}"
        ),
        report=report,
        actor=actor,
        on_duplicate=job.options.get("on_duplicate", OnDuplicate.SKIP),
        batch_size=int(job.options.get("batch_size") or DEFAULT_BATCH_SIZE),
        prefetch=prefetch,
        **options,
    )


# Failure ----------------------------------------------------------------------------------


def _mark_failed(job: ImportJob, message: str) -> ImportJob:
    job.status = Status.FAILED
    job.error_summary = message
    job.finished_at = timezone.now()
    job.save()
    return job


def _run_failed(job: ImportJob, headers, message: str, *, refused: bool = True) -> ImportJob:
    """A run that raised: what it committed stays, and the message says so."""
    job.refresh_from_db()
    if headers:
        rejected_report_save(job=job, headers=headers)
    if job.last_committed_row:
        message = (
            f"The import stopped after row {job.last_committed_row:,} of the file: {message}. "
            f"The {job.last_committed_row:,} rows of committed batches stay imported; resume "
            "the job to continue after them once the cause is fixed."
        )
        # What makes the failed job resumable (ImportJob.can_resume).
        job.options = {**job.options, "resume_point": job.last_committed_row}
    elif not refused:
        message = f"The import failed and nothing was written: {message}"
    return _mark_failed(job, message)


def _run_stopped(job: ImportJob, headers) -> ImportJob:
    job.refresh_from_db()
    if job.status == Status.CANCELLED:
        rejected_report_save(job=job, headers=headers)
        job.finished_at = job.finished_at or timezone.now()
        job.save()
    return job


# Preview ----------------------------------------------------------------------------------


def preview(job: ImportJob, *, actor) -> ImportJob:
    """Validate and classify every row of the job's file without writing a property. A job
    cancelled meanwhile (before its task started, or while it ran) stays cancelled."""
    started = ImportJob.objects.filter(
        pk=job.pk, status__in=[Status.PENDING, Status.VALIDATING]
    ).update(status=Status.VALIDATING)
    job.refresh_from_db()
    if not started:
        return job

    @contextlib.contextmanager
    def count_rows(result):
        # The preview page of a large file shows how far validation has got.
        yield
        ImportJob.objects.filter(pk=job.pk).update(processed_rows=result.total)

    report = None
    with job.source_file.open("rb") as source:
        try:
            reader = open_table(source, job.file_name)
            job.file_format = reader.file_format
            report = RejectedRowsReport(reader.headers)
            pipeline = _pipeline_for(
                job, actor=actor, reader=reader, report=report, dry_run=True, batch_scope=count_rows
            )
            result = pipeline.run()
        except FileRefused as exc:
            job.preview = {"refused": str(exc)}
            return _preview_failed(job, report, str(exc))
        except Exception:
            logger.exception("Preview of import %s failed", job.pk)
            job.preview = {"refused": UNEXPECTED}
            return _preview_failed(job, report, f"The preview failed: {UNEXPECTED}")
    _save_preview_report(job, report)
    job.preview = {
        "totals": result.as_totals(),
        "samples": result.samples,
        "rejected_samples": report.samples,
        "warning_samples": report.warning_samples,
        "columns": result.columns,
        "details": reader.details,
        "seconds": round(result.elapsed, 3),
    }
    job.processed_rows = 0  # the counts describe only what an import wrote
    with transaction.atomic():
        current = (
            ImportJob.objects.select_for_update()
            .filter(pk=job.pk)
            .values_list("status", flat=True)
            .first()
        )
        job.status = Status.CANCELLED if current == Status.CANCELLED else Status.PENDING
        if job.status == Status.CANCELLED:
            job.refresh_from_db(fields=["error_summary", "finished_at"])
        job.save()
    return job


def _preview_failed(job: ImportJob, report, message: str) -> ImportJob:
    """The preview fails only while it is still validating: a job cancelled meanwhile stays
    cancelled, with the cancel's own summary."""
    if report is not None:
        report.close()
    ImportJob.objects.filter(pk=job.pk, status=Status.VALIDATING).update(
        status=Status.FAILED,
        error_summary=message,
        finished_at=timezone.now(),
        preview=job.preview,
        file_format=job.file_format,
    )
    job.refresh_from_db()
    return job


def _save_preview_report(job: ImportJob, report: RejectedRowsReport) -> None:
    if job.rejected_file:
        job.rejected_file.delete(save=False)
    if report.count or report.warning_samples:
        job.rejected_file.save(f"import-{job.pk}-rejected.csv", report.file(), save=False)
    report.close()


# Claim ------------------------------------------------------------------------------------


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


def claim(job: ImportJob, *, from_statuses, expected_rows: int) -> None:
    """Mark the job importing, unless another import into its project is running.

    The organisation lock comes first: a restore holds it while it runs, so an import cannot
    start under a restore (and a restore refuses a running import). On PostgreSQL the project
    row is locked next, so two claims for one project queue up and the second sees the
    first's job; on SQLite (no row locks) the check and the change are one UPDATE statement,
    which SQLite runs alone."""
    with transaction.atomic():
        organization_lock(job.organization_id)
        if connection.features.has_select_for_update:
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
    job.refresh_from_db()
    if claimed:
        return
    busy = _busy_message(job)
    if busy and job.status in from_statuses:
        raise ValidationError(busy)
    if job.status == Status.FAILED and not job.started_at:
        raise ValidationError(f"Import {job.pk} was refused at the preview; upload a fixed file.")
    raise ValidationError(f"Import {job.pk} has already run (status {job.status}).")


# Run --------------------------------------------------------------------------------------


def _batch_transaction(job: ImportJob, report: StoredRejectedRows):
    """The `batch_scope` of a real run: each batch in one transaction with the job's counts
    and resume marker, refused (ImportStopped) when the job was cancelled or another worker
    moved the marker."""
    started = time.monotonic()
    state = {"marker": job.last_committed_row, "batches": 0}

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
                    warned_count=result.warned,
                    last_committed_row=result.total,
                    rows_per_second=round(result.rows_this_run / elapsed, 1) if elapsed else 0,
                    progress_at=timezone.now(),
                )
        except BaseException:
            report.discard()
            raise
        state["marker"] = result.total
        state["batches"] += 1
        batch_committed(job, state["batches"])

    return batch_scope


def execute(job: ImportJob, *, actor) -> ImportJob:
    """Run a claimed job from its resume marker to the end of the file, batch by batch."""
    job.refresh_from_db()
    if job.status != Status.IMPORTING:
        return job  # cancelled before its task started, or finished already
    report = StoredRejectedRows(job, already=job.rejected_count)
    headers = []
    try:
        with job.source_file.open("rb") as source:
            reader = open_table(source, job.file_name)
            headers = reader.headers
            pipeline = _pipeline_for(
                job,
                actor=actor,
                reader=reader,
                report=report,
                dry_run=bool(job.options.get("dry_run")),
                batch_scope=_batch_transaction(job, report),
                # A large file is validated by a forked process, on the other core; a small
                # one (which may run inside a threaded web server) by a thread.
                prefetch=PROCESS if job.expected_rows > background_threshold() else THREAD,
                resume=True,
            )
            result = pipeline.run()
    except ImportStopped:
        return _run_stopped(job, headers)
    except FileRefused as exc:
        return _run_failed(job, headers, str(exc))
    except Exception:
        logger.exception("Import %s failed", job.pk)
        return _run_failed(job, headers, UNEXPECTED, refused=False)
    return _finish(job, headers, result)


def _finish(job: ImportJob, headers, result) -> ImportJob:
    job.refresh_from_db()
    rejected_report_save(job=job, headers=headers)
    # The whole file was read: nothing is left to resume, whatever the outcome.
    job.options.pop("resume_point", None)
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
