"""Reads of projects and properties. Every selector takes the acting user (or a `Scope`) first
and reads through the access gateway, so a caller cannot forget the tenant: another
organisation's row is `DoesNotExist`, exactly like a missing one."""

from django.db import connection
from django.db.models import QuerySet

from organizations.access import Scope

from .models import ESTIMATED_VALUE, SUBURB, ZONING, Project, Property

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


def project_list(*, actor) -> QuerySet[Project]:
    """The projects the actor may see."""
    return Scope.of(actor).filter(Project.objects.all())


def project_get(*, actor, project_id: int) -> Project:
    """One project the actor may see; another organisation's project is `Project.DoesNotExist`,
    exactly like a missing one."""
    return project_list(actor=actor).select_related("organization").get(pk=project_id)


def property_list(
    *,
    actor,
    project: Project | None = None,
    suburb: str | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
) -> QuerySet[Property]:
    """The properties the actor may see, filtered on the indexed expressions."""
    queryset = Scope.of(actor).filter(Property.objects.all())
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


def zoning_values(*, actor, limit: int = 100) -> list[str]:
    """The distinct primary zonings of the properties the actor may see, sorted."""
    zones = set()
    for organization_id in Scope.of(actor).organizations().values_list("pk", flat=True):
        zones.update(_organization_zones(organization_id, limit))
    return sorted(zones)[:limit]


def _organization_zones(organization_id: int, limit: int) -> list[str]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_DISTINCT_ZONING_SQL, {"org": organization_id, "limit": limit})
            return [row[0] for row in cursor.fetchall()]
    return list(
        Property.objects.filter(organization_id=organization_id)
        .annotate(zone=ZONING)
        .exclude(zone__isnull=True)
        .order_by("zone")
        .values_list("zone", flat=True)
        .distinct()[:limit]
    )
