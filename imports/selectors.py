"""Reads of import jobs, always within one organisation."""

from django.db.models import QuerySet

from organizations.models import Organization

from .models import ImportJob


def import_job_list(*, organization: Organization, project=None) -> QuerySet[ImportJob]:
    queryset = ImportJob.objects.filter(organization=organization).select_related("project", "user")
    if project is not None:
        queryset = queryset.filter(project=project)
    return queryset


def import_job_get(*, organization: Organization, job_id: int) -> ImportJob:
    """The organisation's job; another organisation's is `ImportJob.DoesNotExist`, like a
    missing one."""
    return import_job_list(organization=organization).get(pk=job_id)
