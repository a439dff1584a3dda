"""Government open-data sources, their sync runs, and where each synced property came from."""

from django.db import models

from organizations.fields import acting_user, creation_time, tenant_key
from properties.models import Project, Property


class DataSource(models.Model):
    """A CKAN datastore resource or a published file that feeds one project on a schedule.

    `state` is the sync's memory between runs: the accepted fields and their fingerprint, the
    paging strategy the portal allows, a file's ETag / Last-Modified / SHA-256, the cursor of a
    pass in progress."""

    class Kind(models.TextChoices):
        CKAN_DATASTORE = "ckan_datastore", "CKAN datastore resource"
        FILE_URL = "file_url", "Published file (CSV, XLSX, JSON)"

    class OnVanish(models.TextChoices):
        IGNORE = "ignore", "Ignore (keep the property as it is)"
        ARCHIVE = "archive", "Archive the property"
        MARK_DELETED = "mark_deleted", "Mark the property deleted"

    organization = tenant_key("data_sources", editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="data_sources")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    url = models.URLField(
        max_length=500, help_text="The CKAN portal's address, or the published file's URL."
    )
    resource_id = models.CharField(
        max_length=200, blank=True, help_text="The CKAN datastore resource id (CKAN sources)."
    )
    column_overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text='Source field → import column, e.g. {"prop_addr": "address"}; '
        "an empty target ignores the field.",
    )
    api_token_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable that holds the CKAN API token, if any.",
    )
    schedule_cron = models.CharField(
        max_length=100, blank=True, help_text="Cron expression, e.g. '0 3 * * *'; empty: manual."
    )
    active = models.BooleanField(default=True)
    on_vanish = models.CharField(max_length=20, choices=OnVanish.choices, default=OnVanish.IGNORE)
    paused = models.BooleanField(default=False, editable=False)
    pause_message = models.TextField(blank=True, editable=False)
    state = models.JSONField(default=dict, blank=True, editable=False)
    created_by = acting_user()
    created_at = creation_time()

    class Meta:
        ordering = ["organization", "name", "id"]
        indexes = [models.Index(fields=["organization", "name"], name="datasource_org_name_idx")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # The tenant key follows the project, like Property.organization.
        if self.project_id is not None:
            self.organization_id = Project.objects.values_list("organization_id", flat=True).get(
                pk=self.project_id
            )
        super().save(*args, **kwargs)


class SyncRun(models.Model):
    """One run of a source. The counts add up: fetched = created + updated + unchanged +
    rejected (warned rows are also counted where they went)."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Sync now (admin)"
        COMMAND = "command", "Command"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
        UNCHANGED = "unchanged", "Unchanged (nothing to fetch)"
        SKIPPED = "skipped", "Skipped (another run was going)"
        QUARANTINED = "quarantined", "Quarantined (schema changed)"
        GUARDED = "guarded", "Stopped by the mass-delete guard"
        FAILED = "failed", "Failed"

    organization = tenant_key("sync_runs", editable=False)
    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.QUEUED)
    dry_run = models.BooleanField(default=False)
    full = models.BooleanField(default=False)
    # The run that started the pass this run belongs to (itself unless it resumed one): a
    # record not seen in a complete pass has vanished.
    pass_id = models.PositiveBigIntegerField(null=True, blank=True)
    actor = acting_user()
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    warned = models.PositiveIntegerField(default=0)
    vanished = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    bytes_received = models.PositiveBigIntegerField(default=0)
    duration_seconds = models.FloatField(default=0)
    expected = models.PositiveIntegerField(default=0, help_text="Records the source announced.")
    cursor = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = creation_time()
    started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="syncrun_org_recent_idx"),
            models.Index(fields=["source", "status"], name="syncrun_source_status_idx"),
        ]

    def __str__(self):
        return f"Sync {self.pk} of {self.source}"

    def save(self, *args, **kwargs):
        if self.organization_id is None and self.source_id is not None:
            self.organization_id = DataSource.objects.values_list("organization_id", flat=True).get(
                pk=self.source_id
            )
        super().save(*args, **kwargs)

    @property
    def change_reason(self) -> str:
        return f"sync {self.pk}"

    @property
    def progress_percent(self) -> int:
        if self.status in FINISHED_STATUSES:
            return 100
        if not self.expected:
            return 0
        return min(99, int(100 * self.fetched / self.expected))


FINISHED_STATUSES = frozenset(
    {
        SyncRun.Status.COMPLETED,
        SyncRun.Status.COMPLETED_WITH_ERRORS,
        SyncRun.Status.UNCHANGED,
        SyncRun.Status.SKIPPED,
        SyncRun.Status.QUARANTINED,
        SyncRun.Status.GUARDED,
        SyncRun.Status.FAILED,
    }
)


class SyncRejectedRecord(models.Model):
    """A record the rules refused (its errors), or kept with a warning (no errors, its
    warnings), for the run's rejected-records CSV."""

    organization = tenant_key("+")
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="rejected_records")
    number = models.PositiveBigIntegerField(help_text="The record's _id, or its row in the file.")
    values = models.JSONField(default=dict)
    errors = models.JSONField(default=list)
    #: The rules' warnings; a record with warnings and no errors was kept (written).
    warnings = models.JSONField(default=list)

    class Meta:
        ordering = ["run", "id"]

    def __str__(self):
        return f"Sync {self.run_id} record {self.number}"


def _run_reference(**options) -> models.ForeignKey:
    """A record's reference to one of its source's runs: unchecked and unindexed (see
    SourceRecord), cleared if the run goes."""
    return models.ForeignKey(
        SyncRun,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
        **options,
    )


class SourceRecord(models.Model):
    """Provenance: one record of a source, the property it became, and the SHA-256 of its
    normalised form (so an unchanged record is neither written nor given a history row).

    A first sync writes one of these per record, so, as for the property table, only the
    source's key is checked by the database (each check costs the commit a lookup per row, and
    the property's a row lock on the property just written; docs/sources.md gives the figures):
    the tenant key follows the source, the runs are the source's own, and the property is
    cleared by Django's on_delete (SET_NULL), as a restore clears it. Three indexes: the
    primary key, the unique (source, key), which serves every lookup by source, and the
    property (its provenance on the property page). An organisation is deleted rarely enough
    to scan for."""

    organization = tenant_key("+", db_constraint=False, db_index=False)
    source = models.ForeignKey(
        DataSource, on_delete=models.CASCADE, related_name="records", db_index=False
    )
    key = models.CharField(max_length=255, help_text="The record's property id in the source.")
    property = models.ForeignKey(
        Property,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="source_records",
        db_constraint=False,
    )
    sha256 = models.CharField(max_length=64)
    # The digest of the record as the source sent it (its mapped fields, under this mapping):
    # equal next time, the record is unchanged without running the rules again.
    raw_digest = models.CharField(max_length=64, blank=True)
    # The runs' columns have no index of their own: undo looks records up by run within the
    # run's source (the unique index), and a run is deleted only with its source.
    first_run = _run_reference()
    # The last run that wrote this row: created or changed the property, or re-recorded the
    # record's raw digest. An unchanged record is not written at all; a record is present as
    # of the source's last complete pass unless it vanished.
    changed_run = _run_reference()
    vanished_run = _run_reference(blank=True)

    class Meta:
        ordering = ["source", "key"]
        constraints = [
            models.UniqueConstraint(fields=["source", "key"], name="sourcerecord_source_key_uniq")
        ]

    def __str__(self):
        return f"{self.source} record {self.key}"


class SyncSeenKeys(models.Model):
    """The record keys one page of a pass saw, stored with the page: after a complete pass
    (resumed or not) the source's records missing from all of them have vanished. Deleted when
    the pass completes."""

    organization = tenant_key("+")
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+")
    pass_id = models.PositiveBigIntegerField()
    keys = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["pass_id"], name="syncseenkeys_pass_idx")]

    def __str__(self):
        return f"Keys seen by sync {self.run_id}"
