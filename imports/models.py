from django.conf import settings
from django.db import models
from django.utils import timezone

from organizations.fields import acting_user, creation_time, tenant_key
from properties.models import Project


class ImportJob(models.Model):
    """One upload of a property file into a project: what was asked, what happened, and the
    rejected rows with their reasons. The counts always add up:
    total_rows = created_count + updated_count + skipped_count + rejected_count."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        VALIDATING = "validating", "Validating"
        IMPORTING = "importing", "Importing"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class FileFormat(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        JSON = "json", "JSON"

    organization = tenant_key("import_jobs", on_delete=models.PROTECT, editable=False)
    # A job outlives its project: a backup restore may remove a project created after the
    # backup, and the record of what was imported stays.
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    user = acting_user()
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    file_format = models.CharField(max_length=10, choices=FileFormat.choices, blank=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    #: Rows kept with a warning of the rules (also counted as created, updated or skipped).
    warned_count = models.PositiveIntegerField("kept with warnings", default=0)
    rows_per_second = models.FloatField(default=0)
    # Rows expected in the file (the preview's total, else a newline count): the progress bar's
    # 100%. Never part of the counts above.
    expected_rows = models.PositiveIntegerField(default=0)
    # Rows of the file (in reader order) whose batch has committed, written in the same
    # transaction as that batch: a re-run resumes after it, so data and marker never disagree.
    last_committed_row = models.PositiveIntegerField(default=0)
    # When the worker last committed a batch; a job "importing" with an old one has lost its
    # worker and may be resumed.
    progress_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_summary = models.TextField(blank=True)
    rejected_file = models.FileField(upload_to="imports/rejected/", blank=True, max_length=255)
    source_file = models.FileField(upload_to="imports/source/", blank=True, max_length=255)
    # What the dry-run preview found (totals, sample rows, ignored columns), shown before the
    # user confirms; the counts above only ever describe what was written.
    preview = models.JSONField(default=dict, blank=True, editable=False)
    created_at = creation_time()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="importjob_org_recent_idx"),
        ]

    def __str__(self):
        return f"Import {self.pk}: {self.file_name}"

    def save(self, *args, **kwargs):
        # The tenant key follows the project, like Property.organization.
        if self.project_id is not None and self.organization_id is None:
            self.organization_id = Project.objects.values_list("organization_id", flat=True).get(
                pk=self.project_id
            )
        super().save(*args, **kwargs)

    @property
    def is_finished(self) -> bool:
        return self.status in {
            self.Status.COMPLETED,
            self.Status.COMPLETED_WITH_ERRORS,
            self.Status.FAILED,
            self.Status.CANCELLED,
        }

    @property
    def is_preview(self) -> bool:
        """A dry run that wrote nothing: a preview (from the admin or `import_properties
        --dry-run`), confirmed or not, cancelled or refused, or a run with the dry-run
        option. Its figures are never import throughput."""
        if self.options.get("dry_run"):
            return True
        if self.status in {
            self.Status.IMPORTING,
            self.Status.COMPLETED,
            self.Status.COMPLETED_WITH_ERRORS,
        }:
            return False
        # Pending, validating, or cancelled / refused before it was ever claimed.
        return self.started_at is None

    @property
    def seconds_silent(self) -> float:
        """Seconds since the worker last committed a batch (or started)."""
        last = self.progress_at or self.started_at
        return (timezone.now() - last).total_seconds() if last else 0.0

    @property
    def worker_lost(self) -> bool:
        """Importing, but silent for IMPORT_STALE_SECONDS: its worker died."""
        return (
            self.status == self.Status.IMPORTING
            and self.seconds_silent >= settings.IMPORT_STALE_SECONDS
        )

    @property
    def can_cancel(self) -> bool:
        """Pending (a preview waiting for its confirmation), validating or importing."""
        return self.status in {self.Status.PENDING, self.Status.VALIDATING, self.Status.IMPORTING}

    @property
    def can_resume(self) -> bool:
        """Stopped part-way with a resume point: its worker died while importing, or the run
        failed after committing batches (`resume_point`, set by the run that failed)."""
        if self.worker_lost:
            return True
        return (
            self.status == self.Status.FAILED
            and self.started_at is not None
            and bool(self.options.get("resume_point"))
        )


class ImportRejectedRow(models.Model):
    """One rejected (or flagged) row of a running import, stored in the transaction of its
    batch so a resumed import neither loses nor repeats it; the CSV report is built from these
    at the end."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejected_rows")
    number = models.PositiveIntegerField()
    values = models.JSONField(default=list)
    errors = models.JSONField(default=list)
    #: The rules' warnings; a row with warnings and no errors was kept (imported).
    warnings = models.JSONField(default=list)

    class Meta:
        ordering = ["job", "id"]

    def __str__(self):
        return f"Import {self.job_id} row {self.number}"
