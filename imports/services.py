"""Writes of the imports app: create an import job from an upload, preview it, run it (see
runs.py: inline or in the background, cancel, resume); export."""

import contextlib
import hashlib
import logging
from pathlib import PurePath

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.utils import timezone

from properties.models import Project

from .access import check_project_access
from .models import ImportJob
from .pipeline import ImportPipeline, OnDuplicate, RejectedRowsReport, writer_for
from .readers import SNIFF_BYTES, FileRefused, detect_format, open_table
from .runs import (  # noqa: F401 (the app's services, in one namespace)
    DEFAULT_BATCH_SIZE,
    background_threshold,
    import_cancel,
    import_job_execute,
    import_resume,
    import_rows_estimate,
    import_run,
    import_start,
)

logger = logging.getLogger(__name__)

MAX_BATCH_SIZE = 50_000


def import_job_create(
    *,
    actor,
    project: Project,
    file,
    file_name: str | None = None,
    on_duplicate: str = OnDuplicate.SKIP,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
) -> ImportJob:
    """Keep the uploaded file in storage and record a pending job for it."""
    check_project_access(actor=actor, project=project)
    if on_duplicate not in OnDuplicate.CHOICES:
        raise ValidationError(f"on_duplicate must be one of {', '.join(OnDuplicate.CHOICES)}.")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValidationError(f"batch_size must be between 1 and {MAX_BATCH_SIZE:,}.")
    name = PurePath(file_name or getattr(file, "name", "") or "upload").name[:200]

    digest = hashlib.sha256()
    size = 0
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    while chunk := file.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    try:
        file_format = detect_format(head, name)
    except FileRefused:
        file_format = ""  # refused with its message when the job runs

    job = ImportJob(
        project=project,
        organization_id=project.organization_id,
        user=actor,
        file_name=name,
        sha256=digest.hexdigest(),
        size_bytes=size,
        file_format=file_format,
        options={"on_duplicate": on_duplicate, "batch_size": batch_size, "dry_run": dry_run},
    )
    job.save()
    job.source_file.save(f"{job.pk}-{name}", File(file, name=name), save=True)
    return job


def _pipeline(*, job: ImportJob, actor, reader, dry_run: bool, batch_scope=None):
    report = RejectedRowsReport(reader.headers)
    try:
        pipeline = ImportPipeline(
            project=job.project,
            reader=reader,
            writer=writer_for(
                project=job.project,
                dry_run=dry_run,
                actor=actor,
                change_reason=f"import {job.pk}",
            ),
            report=report,
            actor=actor,
            on_duplicate=job.options.get("on_duplicate", OnDuplicate.SKIP),
            batch_size=int(job.options.get("batch_size") or DEFAULT_BATCH_SIZE),
            **({"batch_scope": batch_scope} if batch_scope else {}),
        )
    except FileRefused:
        report.close()
        raise
    return pipeline, report


def _save_report(job: ImportJob, report: RejectedRowsReport) -> None:
    if job.rejected_file:
        job.rejected_file.delete(save=False)
    if report.count:
        job.rejected_file.save(f"import-{job.pk}-rejected.csv", report.file(), save=False)
    report.close()


def _fail(job: ImportJob, message: str) -> ImportJob:
    job.status = ImportJob.Status.FAILED
    job.error_summary = message
    job.finished_at = timezone.now()
    job.save()
    return job


def import_preview(*, job: ImportJob, actor) -> ImportJob:
    """Validate the job's file and classify every row (new / update / skip / reject) without
    writing a property. The totals, samples and ignored columns go to `job.preview`, the rejected
    rows to `job.rejected_file`; the job stays pending until import_run confirms it."""
    check_project_access(actor=actor, project=job.project)
    job.status = ImportJob.Status.VALIDATING
    job.save(update_fields=["status"])

    @contextlib.contextmanager
    def count_rows(result):
        # The preview page of a large file shows how far validation has got.
        yield
        ImportJob.objects.filter(pk=job.pk).update(processed_rows=result.total)

    with job.source_file.open("rb") as source:
        try:
            reader = open_table(source, job.file_name)
            job.file_format = reader.file_format
            pipeline, report = _pipeline(
                job=job, actor=actor, reader=reader, dry_run=True, batch_scope=count_rows
            )
            result = pipeline.run()
        except FileRefused as exc:
            job.preview = {"refused": str(exc)}
            return _fail(job, str(exc))
        except Exception as exc:
            logger.exception("Preview of import %s failed", job.pk)
            job.preview = {"refused": f"{type(exc).__name__}: {exc}"}
            return _fail(job, f"The preview failed: {type(exc).__name__}: {exc}")
    _save_report(job, report)
    job.preview = {
        "totals": result.as_totals(),
        "samples": result.samples,
        "rejected_samples": report.samples,
        "columns": result.columns,
        "details": reader.details,
        "seconds": round(result.elapsed, 3),
    }
    job.status = ImportJob.Status.PENDING
    job.processed_rows = 0  # the counts describe only what an import wrote
    job.save()
    return job


def import_preview_start(*, job: ImportJob, actor) -> ImportJob:
    """Preview an upload: inline when small, as a django-q2 task above
    IMPORT_BACKGROUND_THRESHOLD_ROWS rows (the preview page follows it)."""
    check_project_access(actor=actor, project=job.project)
    expected = import_rows_estimate(job=job)
    job.expected_rows = expected
    job.save(update_fields=["expected_rows"])
    if expected <= background_threshold():
        return import_preview(job=job, actor=actor)
    from django_q.tasks import async_task

    job.status = ImportJob.Status.VALIDATING
    job.options = {**job.options, "background_preview": True}
    job.save(update_fields=["status", "options"])
    async_task(
        "imports.tasks.import_preview_task",
        job.pk,
        task_name=f"import-preview-{job.pk}",
    )
    job.refresh_from_db()
    return job


def property_export(*, organization, project: Project | None = None, file_format: str = "csv"):
    """The organisation's properties (of one project, or all) as CSV / XLSX / JSON bytes or text,
    with spreadsheet formulas neutralised."""
    from import_export.formats.base_formats import CSV, JSON, XLSX

    from properties.exports import export_sheet_title
    from properties.resources import PropertyExportResource
    from properties.selectors import property_list

    formats = {"csv": CSV, "xlsx": XLSX, "json": JSON}
    if file_format not in formats:
        raise ValidationError(f"format must be one of {', '.join(formats)}.")
    if project is not None and project.organization_id != organization.pk:
        raise PermissionDenied(f"No project with id {project.pk} in your organisation.")
    queryset = property_list(organization=organization, project=project).select_related("project")
    export_format = formats[file_format]()
    dataset = PropertyExportResource().export(
        queryset=queryset.order_by("id"), force_native_type=file_format != "csv"
    )
    dataset.title = export_sheet_title(organization=organization, project=project)
    return export_format.export_data(dataset)
