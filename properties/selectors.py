"""Reads of projects and properties. Every selector takes the organisation first and filters by
it, so a caller cannot forget the tenant."""

from django.db.models import QuerySet

from organizations.models import Organization

from .models import ESTIMATED_VALUE, SUBURB, Project, Property, PropertyAnalysis


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
