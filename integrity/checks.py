"""The registry of integrity checks.

Each check turns an organisation into a queryset of its offending rows. The same queryset feeds
the report's count and samples and the admin changelist filter behind each check's link, so the
number on the report and the rows behind the link cannot disagree. Every condition is SQL the
database evaluates (no Python loops over rows) and works on PostgreSQL and SQLite; the
conditions themselves are in `conditions.py`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Trim

from organizations.models import Organization
from properties.models import ZONING, Property, PropertyAnalysis
from properties.rules import VALUE_PER_AREA_SETTINGS

from .conditions import (
    TEXT_TYPES,
    VALUE_MAX,
    VALUE_MIN,
    JSONType,
    address_aliases,
    duplicate_external_id,
    duplicated_external_ids,
    has_address,
    invalid_coordinates,
    is_number,
    live_properties,
    missing_address,
    organization_mismatch,
    orphaned_analysis,
    postcode_out_of_state_range,
    stuck_analysis,
    unrealistic_value,
    value_per_area_outside_bounds,
)

ERROR = "ERROR"
WARNING = "WARNING"
SEVERITY_RANK = {WARNING: 1, ERROR: 2}


@dataclass(frozen=True)
class Check:
    slug: str
    title: str
    severity: str
    description: str
    model: type[models.Model]
    offending: Callable[[Organization], QuerySet]
    #: How to count, when the count is not the number of offending rows.
    counter: Callable[[Organization], int] | None = None

    def count(self, organization: Organization) -> int:
        if self.counter is not None:
            return self.counter(organization)
        return self.offending(organization).count()

    def samples(self, organization: Organization, limit: int = 5) -> list[dict]:
        rows = self.offending(organization).order_by("-id")[:limit]
        if self.model is Property:
            return [{"id": row.pk, "label": str(row)[:120]} for row in rows]
        return [
            {"id": row.pk, "label": f"{row.get_analysis_type_display()} #{row.pk}"} for row in rows
        ]


CHECKS: list[Check] = [
    Check(
        "missing_address",
        "Missing address",
        ERROR,
        "basic_info.address is absent, null, empty or blank.",
        Property,
        missing_address,
    ),
    Check(
        "invalid_coordinates",
        "Invalid coordinates",
        WARNING,
        "A coordinates point whose latitude is outside -90..90, longitude outside -180..180, "
        "or whose values are not numbers.",
        Property,
        invalid_coordinates,
    ),
    Check(
        "unrealistic_value",
        "Unrealistic estimated value",
        WARNING,
        f"Estimated value below {VALUE_MIN:,} or above {VALUE_MAX:,}.",
        Property,
        unrealistic_value,
    ),
    Check(
        "value_per_area",
        "Value per m² of land out of bounds",
        WARNING,
        "Estimated value (else last sale price) per m² of land outside the organisation's "
        f"bounds (value_per_m2_min / value_per_m2_max, by default "
        f"{VALUE_PER_AREA_SETTINGS['value_per_m2_min']:,}–"
        f"{VALUE_PER_AREA_SETTINGS['value_per_m2_max']:,}), the import's warning; the land "
        "area is the figure to check first.",
        Property,
        value_per_area_outside_bounds,
    ),
    Check(
        "orphaned_analysis",
        "Orphaned analyses",
        ERROR,
        "Analyses whose property is missing or soft-deleted; counts analyses.",
        PropertyAnalysis,
        orphaned_analysis,
    ),
    Check(
        "duplicate_external_id",
        "Duplicate external ids",
        ERROR,
        "The same external id on more than one property of the organisation, across its "
        "projects; counts external ids.",
        Property,
        duplicate_external_id,
        counter=lambda organization: duplicated_external_ids(organization).count(),
    ),
    Check(
        "postcode_out_of_state_range",
        "Postcode outside its state's range",
        WARNING,
        "A postcode that is not four digits within its state's Australia Post ranges.",
        Property,
        postcode_out_of_state_range,
    ),
    Check(
        "stuck_analysis",
        "Analyses stuck running",
        WARNING,
        "Analyses in status running for more than a day.",
        PropertyAnalysis,
        stuck_analysis,
    ),
    Check(
        "organization_mismatch",
        "Property in another organisation's project",
        ERROR,
        "A property whose organisation differs from its project's.",
        Property,
        organization_mismatch,
    ),
]

REGISTRY: dict[str, Check] = {check.slug: check for check in CHECKS}


def checks_for(model: type[models.Model]) -> list[Check]:
    return [check for check in CHECKS if check.model is model]


#: The fields whose completeness a report measures, in display order.
COMPLETENESS_FIELDS = ["address", "coordinates", "zoning", "land_area", "estimated_value"]


def quality_metrics(organization: Organization) -> dict:
    """Property and analysis counts and, per field, the share of live properties that have it:
    one aggregate query over the properties."""
    present = {
        "address": has_address(),
        "coordinates": is_number("coord_type_0") & is_number("coord_type_1"),
        "zoning": Q(zoning_type__in=TEXT_TYPES) & ~Q(zoning_text=""),
        "land_area": Q(land_area_type__isnull=False) & ~Q(land_area_type="null"),
        "estimated_value": is_number("value_type"),
    }
    totals = (
        live_properties(organization)
        .alias(
            **address_aliases(),
            coord_type_0=JSONType("spatial_attributes", "coordinates", "coordinates", 0),
            coord_type_1=JSONType("spatial_attributes", "coordinates", "coordinates", 1),
            zoning_type=JSONType("planning_controls", "zoning", "primary"),
            zoning_text=Trim(ZONING),
            land_area_type=JSONType("planning_controls", "land_area"),
            value_type=JSONType("financial_metrics", "estimated_value"),
        )
        .aggregate(
            property_count=Count("id"),
            **{name: Count("id", filter=condition) for name, condition in present.items()},
        )
    )
    property_count = totals["property_count"]
    completeness = {
        name: round(totals[name] / property_count, 4) if property_count else None
        for name in COMPLETENESS_FIELDS
    }
    return {
        "property_count": property_count,
        "analysis_count": PropertyAnalysis.objects.filter(organization=organization).count(),
        "completeness": completeness,
    }
