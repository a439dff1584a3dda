"""The life of an import job, one verb each:

- `import_job_create`: keep an upload and record a pending job for it;
- `import_preview`: validate and classify every row, writing nothing;
- `import_run`: confirm: claim the project and import the valid rows;
- `import_cancel`: stop a pending or running job;
- `import_resume`: continue an interrupted or failed job after its last committed batch;
- `import_job_execute`: the worker's part, run by the django-q2 task for a claimed job.

`import_preview`, `import_run` and `import_resume` work in this process by default (the
commands, the bench); `background=True` queues them as a django-q2 task on commit, and
`background=None` decides by the file's size (above IMPORT_BACKGROUND_THRESHOLD_ROWS rows: a
task), which is what the admin asks for. Every verb that takes an `actor` asks the access
gateway first; no actor is the system (a command run by the operator).
"""

import hashlib
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.utils import timezone

from organizations.access import Scope
from properties.models import Project

from .. import tasks
from ..models import ImportJob
from ..pipeline import OnDuplicate
from ..readers import SNIFF_BYTES, FileRefused, detect_format
from ..uploads import oversize_sentence
from . import execution
from .execution import DEFAULT_BATCH_SIZE, stale_seconds

MAX_BATCH_SIZE = 50_000
IMPORT_PERMISSION = "properties.import_property"
Status = ImportJob.Status


def _require_import(actor, project: Project | None) -> None:
    if project is None:
        raise ValidationError(
            "The project of this import no longer exists (a backup restore removed it)."
        )
    Scope.of(actor).require(IMPORT_PERMISSION, organization=project.organization_id)


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
    _require_import(actor, project)
    if on_duplicate not in OnDuplicate.CHOICES:
        raise ValidationError(f"on_duplicate must be one of {', '.join(OnDuplicate.CHOICES)}.")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValidationError(f"batch_size must be between 1 and {MAX_BATCH_SIZE:,}.")
    name = PurePath(file_name or getattr(file, "name", "") or "upload").name[:200]

    digest = hashlib.sha256()
    size = 0
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    while block := file.read(1024 * 1024):
        digest.update(block)
        size += len(block)
        if size > limit:
            raise ValidationError(oversize_sentence())
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
        while block := source.read(1024 * 1024):
            newlines += block.count(b"\n")
            braces += block.count(b"{")
    if job.file_format == ImportJob.FileFormat.JSON:
        # A minified JSON list is one line: count its objects' opening braces instead.
        return max(newlines, braces, 1)
    return max(newlines - 1, 1)


def import_preview(*, job: ImportJob, actor, background: bool | None = False) -> ImportJob:
    """Validate the job's file and classify every row (new / update / skip / reject) without
    writing a property. The totals, samples and ignored columns go to `job.preview`, the
    rejected rows to `job.rejected_file`; the job stays pending until `import_run` confirms it.
    In the background the job is `validating` until the task has finished."""
    _require_import(actor, job.project)
    if background is None:
        job.expected_rows = import_rows_estimate(job=job)
        job.save(update_fields=["expected_rows"])
        background = execution.belongs_in_background(job, job.expected_rows)
    if not background:
        return execution.preview(job, actor=actor)
    job.status = Status.VALIDATING
    job.options = {**job.options, "background_preview": True}
    job.save(update_fields=["status", "options"])
    tasks.enqueue_import_preview(job)
    job.refresh_from_db()
    return job


def import_run(
    *, job: ImportJob, actor, background: bool | None = False, dry_run: bool | None = None
) -> ImportJob:
    """Confirm an import: claim the job's project (refused while another import runs into it)
    and import the valid rows, in this process or as a django-q2 task (see the module)."""
    _require_import(actor, job.project)
    if dry_run is not None and dry_run != bool(job.options.get("dry_run")):
        job.options = {**job.options, "dry_run": dry_run}
        job.save(update_fields=["options"])
    expected = import_rows_estimate(job=job)
    execution.claim(job, from_statuses=[Status.PENDING], expected_rows=expected)
    if background is None:
        background = execution.belongs_in_background(job, expected)
    if background:
        return _enqueue(job)
    return execution.execute(job, actor=actor)


def import_job_execute(*, job: ImportJob) -> ImportJob:
    """The worker's part: run a claimed job from its resume marker to the end of the file, one
    transaction per batch, as the job's own user (checked when the job was started). Also the
    retry after a killed worker; a job no longer importing is returned as it is."""
    return execution.execute(job, actor=job.user)


def import_resume(*, job: ImportJob, actor, background: bool = False) -> ImportJob:
    """Re-run a job stopped part-way: its worker died (still 'importing' but silent for
    IMPORT_STALE_SECONDS) or it failed after committing batches. It continues after its last
    committed batch. The history keeps naming the job's own user."""
    _require_import(actor, job.project)
    job.refresh_from_db()
    if not job.can_resume:
        raise ValidationError(_why_not_resumable(job))
    if job.status == Status.FAILED:
        execution.claim(job, from_statuses=[Status.FAILED], expected_rows=job.expected_rows)
    if background:
        return _enqueue(job)
    return import_job_execute(job=job)


def _why_not_resumable(job: ImportJob) -> str:
    if job.status == Status.IMPORTING:
        return (
            f"Import {job.pk} committed a batch {job.seconds_silent:.0f} s ago: its worker is "
            f"alive. Resume is for a job silent for {stale_seconds()} s (a killed worker)."
        )
    if job.status == Status.FAILED and job.started_at:
        return (
            f"Import {job.pk} failed before committing any batch, or after reading the whole "
            "file: there is no point to resume from. Upload the file again."
        )
    return (
        f"Import {job.pk} is {job.get_status_display().lower()}; only an interrupted or "
        "failed import can be resumed."
    )


def import_cancel(*, job: ImportJob, actor) -> ImportJob:
    """Stop a pending, validating or running import. A pending one is a preview nobody
    confirmed: cancelling it records that it will not run. A running worker notices before
    its next batch; batches committed before that stay imported."""
    _require_import(actor, job.project)
    name = getattr(actor, "username", "") or "a user"
    was_preview = job.started_at is None
    cancelled = ImportJob.objects.filter(
        pk=job.pk, status__in=[Status.PENDING, Status.VALIDATING, Status.IMPORTING]
    ).update(status=Status.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    if not cancelled:
        raise ValidationError(
            f"Import {job.pk} is {job.get_status_display().lower()}; it can no longer be cancelled."
        )
    if was_preview and job.started_at is None:
        job.error_summary = f"Cancelled by {name} at the preview; nothing was imported."
    else:
        job.error_summary = (
            f"Cancelled by {name} after {job.processed_rows:,} rows. The rows of committed "
            f"batches stay imported ({job.created_count:,} created, "
            f"{job.updated_count:,} updated)."
        )
    job.save(update_fields=["error_summary"])
    return job


def _enqueue(job: ImportJob) -> ImportJob:
    job.options = {**job.options, "background": True}
    job.save(update_fields=["options"])
    tasks.enqueue_import(job)
    job.refresh_from_db()
    return job
