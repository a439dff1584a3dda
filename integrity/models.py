from django.db import models
from django.urls import reverse

from organizations.fields import acting_user, creation_time, tenant_key


class DataIntegrityReport(models.Model):
    """One run of every integrity check over one organisation, with its data-quality metrics."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Daily schedule"
        ADMIN = "admin", "Admin action"
        COMMAND = "command", "Command"

    organization = tenant_key("integrity_reports")
    #: [{"slug", "title", "severity", "description", "model", "count", "samples": [{id, label}]}]
    check_results = models.JSONField(default=list)
    total_issues = models.PositiveIntegerField(default=0)
    #: {"ERROR": n, "WARNING": n}: the summed counts of the checks of each severity.
    severity_breakdown = models.JSONField(default=dict)
    #: {"property_count", "analysis_count", "completeness": {field: share 0..1 or null}}
    metrics = models.JSONField(default=dict)
    duration_ms = models.PositiveIntegerField(default=0)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.COMMAND)
    created_by = acting_user()
    created_at = creation_time()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "data integrity report"
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="integrity_report_org_idx"),
        ]

    def __str__(self):
        created = self.organization.local_time(self.created_at)
        return f"Integrity report #{self.pk} ({created:%Y-%m-%d %H:%M %Z})"

    def get_absolute_url(self):
        return reverse("admin:integrity_dataintegrityreport_change", args=[self.pk])

    @property
    def error_count(self) -> int:
        return int(self.severity_breakdown.get("ERROR", 0))

    @property
    def warning_count(self) -> int:
        return int(self.severity_breakdown.get("WARNING", 0))

    def count_for(self, slug: str) -> int | None:
        for result in self.check_results:
            if result.get("slug") == slug:
                return int(result.get("count", 0))
        return None


class IntegrityAlert(models.Model):
    """An alert that was sent. While a condition's alert is open (not cleared) the condition
    does not alert again; it clears when the condition no longer holds."""

    class Kind(models.TextChoices):
        CHECK_ROSE = "check_rose", "Error check rose"
        BACKUP_FAILED = "backup_failed", "Backup failed"
        BACKUP_OVERDUE = "backup_overdue", "Backup overdue"
        DRILL_FAILED = "drill_failed", "Restore drill failed"

    organization = tenant_key("integrity_alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    #: Identifies the condition, e.g. "check:missing_address" or "backup_overdue:3".
    condition = models.CharField(max_length=200)
    subject = models.CharField(max_length=200)
    message = models.TextField()
    payload = models.JSONField(default=dict)
    report = models.ForeignKey(
        DataIntegrityReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email_recipients = models.JSONField(default=list, blank=True)
    webhook_url = models.CharField(max_length=500, blank=True)
    #: "" before delivery, then "sent", "not configured" or the error met.
    webhook_status = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = creation_time()
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "condition"], name="integrity_alert_cond_idx"),
        ]
        constraints = [
            # At most one open alert per condition: the database enforces "alert once".
            models.UniqueConstraint(
                fields=["organization", "condition"],
                condition=models.Q(cleared_at__isnull=True),
                name="integrity_alert_one_open",
            ),
        ]

    def __str__(self):
        return self.subject

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None
