"""The property changelist's list filters, each on an indexed expression of the property and
listing only values of the acting user's organisation."""

from django.contrib import admin, messages

from organizations.tenancy import scope_of

from . import selectors
from .models import STATE, SUBURB, ZONING
from .rules import STATES


class TenantProjectFilter(admin.SimpleListFilter):
    """Project filter listing only the acting user's projects (the stock related-field filter
    would list every organisation's)."""

    title = "project"
    parameter_name = "project__id__exact"

    def lookups(self, request, model_admin):
        projects = selectors.project_list(actor=scope_of(request))
        return [(str(pk), name) for pk, name in projects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not (value.isascii() and value.isdigit() and len(value) < 19):
            messages.warning(request, f"{value[:40]!r} is not a project id; filter ignored.")
            return queryset
        return queryset.filter(project_id=int(value))


class _JSONKeyFilter(admin.SimpleListFilter):
    """Rows whose JSON key (`expression`, as text) equals the chosen value, one of
    `values(actor=)`."""

    expression = None
    values = None

    def lookups(self, request, model_admin):
        return [(value, value) for value in self.values(actor=scope_of(request))]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        alias = f"{self.parameter_name}_text"
        return queryset.alias(**{alias: self.expression}).filter(**{alias: self.value()})


def _state_codes(*, actor) -> list[str]:
    return sorted(STATES)


class StateFilter(_JSONKeyFilter):
    title = parameter_name = "state"
    expression = STATE
    values = staticmethod(_state_codes)


class ZoningFilter(_JSONKeyFilter):
    title = parameter_name = "zoning"
    expression = ZONING
    values = staticmethod(selectors.zoning_values)


class SuburbFilter(_JSONKeyFilter):
    title = parameter_name = "suburb"
    expression = SUBURB
    values = staticmethod(selectors.suburb_values)


class EstimatedValueFilter(admin.SimpleListFilter):
    """Bands of estimated value, each a range scan of the (organisation, value) index."""

    title = "estimated value"
    parameter_name = "value"
    BANDS = {
        "lt500k": ("under $500,000", None, 500_000),
        "500k-1m": ("$500,000 to $1m", 500_000, 1_000_000),
        "1m-2m": ("$1m to $2m", 1_000_000, 2_000_000),
        "2m+": ("$2m and over", 2_000_000, None),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _, _) in self.BANDS.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.BANDS:
            return queryset
        _, low, high = self.BANDS[self.value()]
        return selectors.estimated_value_within(queryset, low=low, below=high)
