"""Reads of projects and properties. Every selector takes the acting user (or a `Scope`) first
and reads through the access gateway, so a caller cannot forget the tenant: another
organisation's row is `DoesNotExist`, exactly like a missing one."""

from django.db import connection
from django.db.models import QuerySet

from organizations.access import Scope

from .models import ESTIMATED_VALUE, SUBURB, ZONING, Project, Property

# Walks an (organization, key) index from one distinct value to the next: a handful of index
# probes instead of reading every property of the organisation, as DISTINCT would. The key is
# one of the fixed expressions below, each the SQL of an index of Property.
_DISTINCT_KEY_SQL = """
WITH RECURSIVE keys(value) AS (
    SELECT min({key}) FROM properties_property WHERE organization_id = %(org)s
  UNION ALL
    SELECT (SELECT min({key})
            FROM properties_property
            WHERE organization_id = %(org)s AND {key} > keys.value)
    FROM keys WHERE keys.value IS NOT NULL
)
SELECT value FROM keys WHERE value IS NOT NULL LIMIT %(limit)s
"""
_INDEXED_KEYS = {
    "zoning": ("planning_controls #>> '{zoning,primary}'", ZONING),
    "suburb": ("basic_info ->> 'suburb'", SUBURB),
}


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
    return estimated_value_within(queryset, low=min_value, high=max_value)


def estimated_value_within(queryset, *, low=None, high=None, below=None) -> QuerySet:
    """`queryset` limited to estimated values of at least `low`, at most `high` and under
    `below` (each optional): one range scan of the (organisation, value) index."""
    bounds = {"gte": low, "lte": high, "lt": below}
    bounds = {
        f"estimated_value__{name}": value for name, value in bounds.items() if value is not None
    }
    if not bounds:
        return queryset
    return queryset.alias(estimated_value=ESTIMATED_VALUE).filter(**bounds)


def zoning_values(*, actor, limit: int = 100) -> list[str]:
    """The distinct primary zonings of the properties the actor may see, sorted."""
    return _distinct_values(actor, "zoning", limit)


def suburb_values(*, actor, limit: int = 100) -> list[str]:
    """The first `limit` distinct suburbs of the properties the actor may see, sorted."""
    return _distinct_values(actor, "suburb", limit)


def _distinct_values(actor, key: str, limit: int) -> list[str]:
    values = set()
    for organization_id in Scope.of(actor).organization_ids():
        values.update(_organization_values(organization_id, key, limit))
    return sorted(values)[:limit]


def _organization_values(organization_id: int, key: str, limit: int) -> list[str]:
    sql_key, expression = _INDEXED_KEYS[key]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _DISTINCT_KEY_SQL.format(key=sql_key), {"org": organization_id, "limit": limit}
            )
            return [row[0] for row in cursor.fetchall()]
    return list(
        Property.objects.filter(organization_id=organization_id)
        .annotate(value=expression)
        .exclude(value__isnull=True)
        .order_by("value")
        .values_list("value", flat=True)
        .distinct()[:limit]
    )
