import hashlib
import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from simple_history.models import HistoricalRecords

from organizations.fields import acting_user, creation_time, tenant_key

from .limits import PropertyJSONField


# The expressions the app filters and sorts on. Indexes and queries share these definitions so
# an index always matches the SQL that is meant to use it.
def json_text(path: str) -> Cast:
    """A JSON key as plain text. The cast matters on SQLite, where comparing a bare KT() to a
    string parses the string as JSON."""
    return Cast(KT(path), models.TextField())


SUBURB = json_text("basic_info__suburb")
POSTCODE = json_text("basic_info__postcode")
STATE = json_text("basic_info__state")
ADDRESS = KT("basic_info__address")
ZONING = json_text("planning_controls__zoning__primary")
ESTIMATED_VALUE = Cast(KT("financial_metrics__estimated_value"), models.FloatField())


def _normalise(text) -> str:
    return " ".join(re.sub(r"[^\w\s/]", " ", str(text or "")).lower().split())


def derive_external_id(basic_info: dict) -> str:
    """A stable id for a property that has none in its source: the same address, suburb and
    postcode give the same id, so importing a file without ids twice creates nothing new."""
    info = basic_info or {}
    key = "|".join(_normalise(info.get(part)) for part in ("address", "suburb", "postcode"))
    return "addr-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class Status(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"
    DELETED = "deleted", "Deleted"


class Project(models.Model):
    organization = tenant_key("projects", on_delete=models.PROTECT)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_by = acting_user()
    created_at = creation_time()
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # The target of the properties' tenant key (project, organisation): see Property.
            models.UniqueConstraint(fields=["id", "organization"], name="project_in_organization"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # Moving a project between organisations would carry one tenant's properties, history
        # and analyses to another; refuse instead of silently re-parenting them.
        if self.pk and not self._state.adding:
            previous = (
                Project.objects.filter(pk=self.pk).values_list("organization_id", flat=True).first()
            )
            if previous is not None and previous != self.organization_id:
                raise ValidationError("A project cannot move to another organisation.")
        super().save(*args, **kwargs)


class Property(models.Model):
    # Both keys are served by composite indexes below (unique project + external_id, and
    # organisation + id), so their single-column indexes would only slow down writes.
    # On PostgreSQL one foreign key (project, organisation) -> project (id, organisation),
    # added in migration 0003, holds both: a property cannot point at another tenant's project,
    # and a bulk import pays one key check a row instead of two. SQLite (development) keeps the
    # ORM's PROTECT only.
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="properties",
        db_index=False,
        db_constraint=False,
    )
    # Denormalised from the project so every tenant query filters one indexed column; save()
    # derives it from the project, so it cannot drift through the ORM.
    organization = tenant_key(
        "properties", on_delete=models.PROTECT, editable=False, db_index=False, db_constraint=False
    )
    external_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="The id in the source system. Left empty, it is derived from the address.",
    )
    basic_info = PropertyJSONField(default=dict, blank=True)
    planning_controls = PropertyJSONField(default=dict, blank=True)
    environmental_factors = PropertyJSONField(default=dict, blank=True)
    financial_metrics = PropertyJSONField(default=dict, blank=True)
    spatial_attributes = PropertyJSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # No index: nothing lists a user's properties, and deleting a user (which clears this
    # column) is rare enough to scan for; an import writes one entry per row into each index.
    # No key constraint either, as for the history's user: Django clears the column when a
    # user is deleted, and the database's check slows a bulk import's commit (docs/imports.md).
    created_by = acting_user(db_index=False, db_constraint=False)
    created_at = creation_time()
    updated_at = models.DateTimeField(auto_now=True)

    # The history is read per property (id) and per organisation (pages, backups); indexes on
    # its other keys would only slow down an import, which writes a history row per property.
    # Its user is a plain column: Django still clears it when a user is deleted, and a key
    # check per history row slows a bulk import measurably (the figure is in docs/imports.md).
    history = HistoricalRecords(no_db_index=["project", "created_by"], user_db_constraint=False)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "properties"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="property_unique_external_id"
            ),
        ]
        indexes = [
            # The changelist's default order (newest first) within one tenant, read backwards.
            # Ascending, new rows go at the end of their tenant's range, where a page split
            # leaves full pages; descending, each one went first and split pages in half.
            models.Index(fields=["organization", "id"], name="property_org_recent_idx"),
            models.Index(fields=["external_id"], name="property_external_id_idx"),
            # Tenant first: every query of the app filters by organisation, so one index serves
            # "this organisation's properties in Richmond" without touching other tenants'.
            models.Index(F("organization"), SUBURB, name="property_suburb_idx"),
            models.Index(F("organization"), POSTCODE, name="property_postcode_idx"),
            models.Index(F("organization"), ZONING, name="property_zoning_idx"),
            models.Index(F("organization"), ESTIMATED_VALUE, name="property_est_value_idx"),
            # PostgreSQL also has a trigram GIN index for the admin's "address contains" search;
            # it lives in migration 0001 only, as SQLite cannot build it (see ADDRESS_SEARCH).
        ]
        permissions = [
            ("import_property", "Can import properties"),
            ("export_property", "Can export properties"),
        ]

    def __str__(self):
        return self.address or self.external_id

    def save(self, *args, **kwargs):
        if not self.external_id:
            self.external_id = derive_external_id(self.basic_info)
        if self.project_id is not None:
            self.organization_id = (
                self.project.organization_id
                if self._project_cached()
                else Project.objects.values_list("organization_id", flat=True).get(
                    pk=self.project_id
                )
            )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "updated_at" not in update_fields:
            # updated_at must change on every save, update_fields or not.
            kwargs["update_fields"] = {*update_fields, "updated_at", "organization"}
        super().save(*args, **kwargs)

    def _project_cached(self) -> bool:
        return Property.project.is_cached(self) and self.project.pk == self.project_id

    @property
    def address(self) -> str:
        return (self.basic_info or {}).get("address") or ""

    def clean(self):
        value = (self.financial_metrics or {}).get("estimated_value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValidationError(
                {"financial_metrics": "estimated_value must be a number (or left out)."}
            )


class PropertyAnalysis(models.Model):
    class AnalysisType(models.TextChoices):
        FINANCIAL = "financial", "Financial"
        ENVIRONMENTAL = "environmental", "Environmental"
        PLANNING = "planning", "Planning"
        DEVELOPMENT = "development", "Development"

    class AnalysisStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="analyses")
    organization = tenant_key("analyses", on_delete=models.PROTECT, editable=False)
    analysis_type = models.CharField(max_length=20, choices=AnalysisType.choices)
    input_parameters = models.JSONField(default=dict, blank=True)
    results = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    # Where the analysis came from, e.g. the financial_metrics keys a migration moved here; the
    # reverse migration reads it to put them back exactly.
    metadata = models.JSONField(default=dict, blank=True, editable=False)
    created_by = acting_user()
    created_at = creation_time()

    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "property analyses"
        indexes = [
            models.Index(fields=["organization", "status"], name="analysis_org_status_idx"),
            models.Index(fields=["analysis_type"], name="analysis_type_idx"),
        ]

    def __str__(self):
        return f"{self.get_analysis_type_display()} analysis of {self.property}"

    def save(self, *args, **kwargs):
        if self.property_id is not None:
            self.organization_id = Property.objects.values_list("organization_id", flat=True).get(
                pk=self.property_id
            )
        super().save(*args, **kwargs)
