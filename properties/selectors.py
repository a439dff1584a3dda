"""Reads of projects and properties. Every selector takes the organisation first and filters by
it, so a caller cannot forget the tenant."""

from django.db import connection
from django.db.models import QuerySet

from organizations.models import Organization

from .models import ESTIMATED_VALUE, SUBURB, ZONING, Project, Property, PropertyAnalysis

# Walks the (organization, zoning) index from one distinct value to the next: a handful of index
# probes instead of reading every property of the organisation, as DISTINCT would.
_DISTINCT_ZONING_SQL = """
WITH RECURSIVE zones(zone) AS (
    SELECT min(planning_controls #>> '{zoning,primary}')
    FROM properties_property WHERE organization_id = %(org)s
  UNION ALL
    SELECT (SELECT min(planning_controls #>> '{zoning,primary}')
            FROM properties_property
            WHERE organization_id = %(org)s
              AND planning_controls #>> '{zoning,primary}' > zones.zone)
    FROM zones WHERE zones.zone IS NOT NULL
)
SELECT zone FROM zones WHERE zone IS NOT NULL LIMIT %(limit)s
"""


def project_list(*, organization: Organization) -> QuerySet[Project]:
    return Project.objects.filter(organization=organization)


def project_get(*, organization: Organization, project_id: int) -> Project:
    """The organisation's project; another organisation's project is `Project.DoesNotExist`,
    exactly like a missing one."""
    return project_list(organization=organization).get(pk=project_id)


def property_list(
    *,
    organization: Organization,
    project: Project | None = None,
    suburb: str | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
) -> QuerySet[Property]:
    """The organisation's properties, filtered on the indexed expressions."""
    queryset = Property.objects.filter(organization=organization)
    if project is not None:
        queryset = queryset.filter(project=project)
    if suburb:
        queryset = queryset.alias(suburb_text=SUBURB).filter(suburb_text=suburb)
    if min_value is not None or max_value is not None:
        queryset = queryset.alias(estimated_value=ESTIMATED_VALUE)
        if min_value is not None:
            queryset = queryset.filter(estimated_value__gte=min_value)
        if max_value is not None:
            queryset = queryset.filter(estimated_value__lte=max_value)
    return queryset


def analysis_list(*, organization: Organization) -> QuerySet[PropertyAnalysis]:
    return PropertyAnalysis.objects.filter(organization=organization)


def zoning_values(*, organization: Organization, limit: int = 100) -> list[str]:
    """The distinct primary zonings of the organisation's properties, sorted."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_DISTINCT_ZONING_SQL, {"org": organization.pk, "limit": limit})
            return [row[0] for row in cursor.fetchall()]
    return list(
        Property.objects.filter(organization=organization)
        .annotate(zone=ZONING)
        .exclude(zone__isnull=True)
        .order_by("zone")
        .values_list("zone", flat=True)
        .distinct()[:limit]
    )
