from croniter import croniter
from django.core.exceptions import ValidationError
from django.core.files.storage import Storage, storages
from django.db import models

from organizations.fields import acting_user, tenant_key


def _delegated(name: str):
    def method(self, *args, **kwargs):
        return getattr(storages["backups"], name)(*args, **kwargs)

    method.__name__ = name
    return method


class BackupStorage(Storage):
    """STORAGES["backups"], looked up on every call.

    FileField evaluates a storage callable once, at import; delegating per call is what lets a
    changed STORAGES setting (a test's, or a deployment's replica switch) take effect.
    """

    open = _delegated("open")
    save = _delegated("save")
    delete = _delegated("delete")
    exists = _delegated("exists")
    size = _delegated("size")
    url = _delegated("url")
    path = _delegated("path")
    listdir = _delegated("listdir")
    generate_filename = _delegated("generate_filename")
    get_available_name = _delegated("get_available_name")


def backup_storage() -> Storage:
    return BackupStorage()


def archive_upload_to(execution, filename: str) -> str:
    return f"{execution.organization.slug}/{filename}"


class BackupType(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"
    SELECTIVE = "selective", "Selective"


class BackupConfig(models.Model):
    organization = tenant_key("backup_configs")
    backup_type = models.CharField(
        max_length=20, choices=BackupType.choices, default=BackupType.FULL
    )
    schedule_cron = models.CharField(
        max_length=100,
        default="0 2 * * *",
        help_text="Cron expression (minute hour day month weekday); 0 2 * * * is 02:00 daily.",
    )
    retention_days = models.PositiveIntegerField(
        default=30, help_text="Completed backups older than this are deleted by the scheduled run."
    )
    keep_full_backups = models.PositiveIntegerField(
        default=1,
        help_text="Full backups kept however old they are (the newest ones); at least one.",
    )
    tables_included = models.JSONField(
        default=list,
        blank=True,
        help_text="For selective backups: the tables to include (e.g. properties_project). "
        "Empty means all.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "id"]
        verbose_name = "backup configuration"

    def __str__(self):
        return (
            f"{self.get_backup_type_display()} backup of {self.organization} ({self.schedule_cron})"
        )

    def clean(self):
        if not croniter.is_valid(self.schedule_cron or ""):
            raise ValidationError({"schedule_cron": "Not a valid cron expression."})
        if not isinstance(self.tables_included, list):
            raise ValidationError({"tables_included": "A list of table names."})


class BackupExecution(models.Model):
    class ReplicaStatus(models.TextChoices):
        NONE = "none", "No replica"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Failed"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Verification(models.TextChoices):
        UNVERIFIED = "unverified", "Unverified"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    # Nullable: a manual backup has no configuration.
    config = models.ForeignKey(
        BackupConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="executions"
    )
    organization = tenant_key("backup_executions")
    backup_type = models.CharField(
        max_length=20, choices=BackupType.choices, default=BackupType.FULL
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    archive = models.FileField(
        storage=backup_storage, upload_to=archive_upload_to, max_length=500, blank=True
    )
    size_bytes = models.BigIntegerField(null=True, blank=True)
    record_count = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    base_backup = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verification_status = models.CharField(
        max_length=20, choices=Verification.choices, default=Verification.UNVERIFIED
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_message = models.TextField(blank=True)
    created_by = acting_user()
    #: The copy in STORAGES["backups_replica"]: copied, re-read and re-hashed (backups/replica.py).
    replica_status = models.CharField(
        max_length=20, choices=ReplicaStatus.choices, default=ReplicaStatus.NONE
    )
    replica_name = models.CharField(max_length=500, blank=True)
    replica_sha256 = models.CharField(max_length=64, blank=True)
    replica_checked_at = models.DateTimeField(null=True, blank=True)
    replica_message = models.TextField(blank=True)
    #: Where the next incremental of the chain starts reading (backups/incremental.py): the
    #: snapshot's oldest running transaction on PostgreSQL, history-id watermarks, and for an
    #: incremental its parent's id and SHA-256.
    baseline = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-started_at"], name="backup_org_recent_idx"),
        ]
        permissions = [("restore_backupexecution", "Can restore an organisation from a backup")]

    def __str__(self):
        return f"Backup {self.pk} of {self.organization} ({self.status})"


class RestoreExecution(models.Model):
    class Strategy(models.TextChoices):
        REPLACE_ALL = "replace_all", "Replace all"
        MERGE = "merge", "Merge"
        SELECTIVE = "selective", "Selective"
        POINT_IN_TIME = "point_in_time", "Point in time"

    class Status(models.TextChoices):
        #: Queued from the admin, waiting for a worker (backups/services/queued.py).
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    backup = models.ForeignKey(
        BackupExecution, null=True, on_delete=models.SET_NULL, related_name="restores"
    )
    organization = tenant_key("restore_executions")
    strategy = models.CharField(
        max_length=20, choices=Strategy.choices, default=Strategy.REPLACE_ALL
    )
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    #: Per table: {"inserted": n, "updated": n, "deleted": n}.
    counts = models.JSONField(default=dict, blank=True)
    #: point_in_time: the instant restored to.
    as_of = models.DateTimeField(null=True, blank=True)
    #: merge (and selective with a policy): skip, overwrite or rename; empty for replace_all.
    conflict_policy = models.CharField(max_length=20, blank=True)
    #: selective: the tables restored.
    tables = models.JSONField(default=list, blank=True)
    #: merge: {"conflicts": {table: [sample]}, "renamed": {table: [row]}} (backups/merge.py).
    report = models.JSONField(default=dict, blank=True)
    #: Set when the primary archive could not be used and a verified replica was read.
    archive_note = models.TextField(blank=True)
    error_message = models.TextField(blank=True)
    actor = acting_user()

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"Restore {self.pk} of {self.organization} from backup {self.backup_id}"


class RecoveryPoint(models.Model):
    """A named full backup to come back to, e.g. "before the council data reload"."""

    organization = tenant_key("recovery_points")
    description = models.CharField(max_length=300)
    # PROTECT: retention and deletes must not take a recovery point's backup from under it.
    backup = models.ForeignKey(
        BackupExecution, on_delete=models.PROTECT, related_name="recovery_points"
    )
    created_by = acting_user()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="recovery_point_org_idx"),
        ]

    def __str__(self):
        return f"{self.description} ({self.created_at:%Y-%m-%d %H:%M})"


class BackupDrill(models.Model):
    """A restore drill: a backup restored into scratch copies of the tables, checked by the
    integrity checks and against its manifest's fingerprint (backups/drills.py)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    organization = tenant_key("backup_drills")
    backup = models.ForeignKey(
        BackupExecution, null=True, on_delete=models.SET_NULL, related_name="drills"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    #: Whether every restored table's count and hash matched the manifest.
    fingerprint_matches = models.BooleanField(null=True)
    #: Per integrity check run on the restored copy: {"slug", "severity", "count"}.
    check_results = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["organization", "-started_at"], name="drill_org_idx")]

    def __str__(self):
        return f"Drill {self.pk} of backup {self.backup_id} ({self.status})"
