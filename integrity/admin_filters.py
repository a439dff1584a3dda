"""The changelist filter behind each check's link on the report page."""

from django.contrib import admin
from django.db.models import Q

from organizations.tenancy import scope_of
from properties.admin import ChangelistExtension

from .checks import REGISTRY, checks_for

ORGANIZATION_PARAMETER = "organization__id__exact"


class IntegrityCheckFilter(admin.SimpleListFilter):
    """`?integrity_check=<slug>` keeps exactly the rows the check reports for the acting user's
    organisation (a superuser's: the organisation in the link, or every organisation)."""

    title = "integrity check"
    parameter_name = "integrity_check"

    def lookups(self, request, model_admin):
        return [(check.slug, check.title) for check in checks_for(model_admin.model)]

    def queryset(self, request, queryset):
        slug = self.value()
        if not slug:
            return queryset
        check = REGISTRY.get(slug)
        if check is None or check.model is not queryset.model:
            return queryset.none()
        scope = scope_of(request)
        organizations = scope.organizations()
        organization_id = request.GET.get(ORGANIZATION_PARAMETER)
        # A member's scope is one organisation already; the link narrows a superuser's.
        if scope.sees_all and organization_id and organization_id.isdigit():
            organizations = organizations.filter(pk=organization_id)
        condition = Q(pk__in=[])
        for organization in organizations:
            condition |= Q(pk__in=check.offending(organization).values("pk"))
        return queryset.filter(condition)


#: The filter on the property and analysis changelists, registered by integrity/admin.py.
CHANGELIST_EXTENSION = ChangelistExtension(list_filters=(IntegrityCheckFilter,))
