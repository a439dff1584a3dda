from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model, Q
from django.utils.html import format_html
from django.utils.translation import gettext
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, JSON, XLSX

from organizations.tenancy import TenantHistoryAdmin, scope_of

from .admin_filters import (
    EstimatedValueFilter,
    StateFilter,
    SuburbFilter,
    TenantProjectFilter,
    ZoningFilter,
)
from .exports import export_file_name, export_sheet_title
from .forms import FIELDSETS, PropertyAnalysisForm, PropertyForm, raw_attributes
from .history import JSONKeyHistoryContextHelper
from .models import (
    ADDRESS,
    ESTIMATED_VALUE,
    POSTCODE,
    STATE,
    SUBURB,
    ZONING,
    Project,
    Property,
    PropertyAnalysis,
)
from .pagination import EstimatedCountPaginator
from .resources import PropertyExportResource
from .rules import RuleSettings
from .templatetags.property_format import format_money

# Changelist extensions ---------------------------------------------------------------------
#
# Apps that build on properties (imports, integrity) add to the property and analysis
# changelists without this app importing them: each registers a `ChangelistExtension` from its
# own admin module (admin autodiscovery loads it), and the admins below compose what is
# registered on every request. Layering stays one way: organizations <- properties <- the rest.


@dataclass(frozen=True)
class ObjectTool:
    """A link in a changelist's object-tools bar (beside "Export")."""

    label: str
    url: str
    css_class: str = ""


@dataclass(frozen=True)
class ChangelistExtension:
    """What another app adds to a changelist of this app.

    - `list_filters`: appended to the admin's `list_filter`, in registration order;
    - `urls(model_admin)`: URL patterns served under the admin's own URLs (the pages the
      object tools open), named as the admin names its own (`<app>_<model>_<name>`);
    - `object_tools(request, model_admin)`: the `ObjectTool` links this request may see.
    """

    list_filters: tuple = ()
    urls: Callable | None = None
    object_tools: Callable | None = None


_CHANGELIST_EXTENSIONS: dict[type[Model], list[ChangelistExtension]] = defaultdict(list)


def register_changelist_extension(model: type[Model], extension: ChangelistExtension) -> None:
    """Add `extension` to the changelist of `model` (Property or PropertyAnalysis)."""
    if extension not in _CHANGELIST_EXTENSIONS[model]:
        _CHANGELIST_EXTENSIONS[model].append(extension)


def changelist_extensions(model: type[Model]) -> list[ChangelistExtension]:
    return list(_CHANGELIST_EXTENSIONS[model])


@dataclass(frozen=True)
class ChangeFormSection:
    """A read-only section another app adds to a change form (sources: a property's
    provenance). `field` is a callable of the object returning HTML, with a
    `short_description`."""

    title: str
    field: Callable


_CHANGE_FORM_SECTIONS: dict[type[Model], list[ChangeFormSection]] = defaultdict(list)


def register_change_form_section(model: type[Model], section: ChangeFormSection) -> None:
    if section not in _CHANGE_FORM_SECTIONS[model]:
        _CHANGE_FORM_SECTIONS[model].append(section)


class ChangeFormSectionsMixin:
    """Appends the registered sections of the admin's model to its change form, read-only."""

    def get_fieldsets(self, request, obj=None):
        sections = _CHANGE_FORM_SECTIONS[self.model]
        extra = tuple((section.title, {"fields": (section.field,)}) for section in sections)
        return (*super().get_fieldsets(request, obj), *extra)

    def get_readonly_fields(self, request, obj=None):
        extra = tuple(section.field for section in _CHANGE_FORM_SECTIONS[self.model])
        return (*super().get_readonly_fields(request, obj), *extra)


class ChangelistExtensionsMixin:
    """Composes the registered extensions of the admin's model into its list filters, URLs
    and object tools (the changelist template renders `extension_tools`)."""

    def get_list_filter(self, request):
        extra = [f for ext in changelist_extensions(self.model) for f in ext.list_filters]
        return (*super().get_list_filter(request), *extra)

    def get_urls(self):
        extra = [
            pattern
            for ext in changelist_extensions(self.model)
            if ext.urls is not None
            for pattern in ext.urls(self)
        ]
        return [*extra, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        tools = [
            tool
            for ext in changelist_extensions(self.model)
            if ext.object_tools is not None
            for tool in ext.object_tools(request, self)
        ]
        extra_context = {**(extra_context or {}), "extension_tools": tools}
        return super().changelist_view(request, extra_context)


class PropertyAnalysisInline(admin.TabularInline):
    model = PropertyAnalysis
    extra = 0
    fields = ("analysis_type", "status", "completed_at")
    readonly_fields = ("analysis_type", "status", "completed_at")
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Property)
class PropertyAdmin(
    ChangeFormSectionsMixin, ChangelistExtensionsMixin, ExportMixin, TenantHistoryAdmin
):
    resource_classes = [PropertyExportResource]
    export_formats = [CSV, XLSX, JSON]
    import_export_change_list_template = "admin/properties/property/change_list.html"
    list_display = (
        "address_display",
        "suburb_display",
        "state_display",
        "postcode_display",
        "zoning_display",
        "estimated_value_display",
        "status",
        "project",
    )
    # Extended by the registered ChangelistExtensions (the integrity check filter).
    list_filter = (
        TenantProjectFilter,
        "status",
        StateFilter,
        SuburbFilter,
        ZoningFilter,
        EstimatedValueFilter,
    )
    list_select_related = ("project",)
    search_help_text = "Address contains, suburb, 4-digit postcode or external id."
    search_fields = ("external_id",)  # widened in get_search_results
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    tenant_order_index = True  # property_org_recent_idx
    # Facet counts would run a COUNT per filter choice over the whole organisation.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    autocomplete_fields = ("project",)
    form = PropertyForm
    readonly_fields = ("raw_attributes", "created_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("project", "external_id", "status")}),
        *((title, {"fields": fields}) for title, fields in FIELDSETS),
        (
            "Advanced",
            {
                "classes": ("collapse",),
                "fields": ("raw_attributes",),
                "description": "Every attribute as stored, read-only; keys the form above "
                "does not show are kept as they are.",
            },
        ),
        ("Record", {"fields": ("created_by", "created_at", "updated_at")}),
    )
    inlines = (PropertyAnalysisInline,)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        organization = obj.organization if obj is not None else scope_of(request).organization
        settings = RuleSettings.of(organization)

        class OrganisationPropertyForm(form):
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, rule_settings=settings, **form_kwargs)

        return OrganisationPropertyForm

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        for warning in getattr(form, "warnings", ()):
            self.message_user(request, f"Saved with a warning: {warning}", messages.WARNING)

    def action_checkbox(self, obj):
        # The same markup as Django's, without a pass through the form widget templates for
        # each of the page's rows: that pass was a large share of a page's CPU time.
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            obj.pk,
            label,
        )

    @admin.display(description="stored attributes (JSON)")
    def raw_attributes(self, obj):
        return format_html('<pre id="raw-attributes">{}</pre>', raw_attributes(obj))

    @admin.display(description="address", ordering=ADDRESS)
    def address_display(self, obj):
        return obj.address or obj.external_id

    @admin.display(description="suburb", ordering=SUBURB)
    def suburb_display(self, obj):
        return obj.basic_info.get("suburb", "")

    @admin.display(description="state", ordering=STATE)
    def state_display(self, obj):
        return obj.basic_info.get("state", "")

    @admin.display(description="postcode", ordering=POSTCODE)
    def postcode_display(self, obj):
        return obj.basic_info.get("postcode", "")

    @admin.display(description="zoning", ordering=ZONING)
    def zoning_display(self, obj):
        zoning = (obj.planning_controls or {}).get("zoning")
        return zoning.get("primary", "") if isinstance(zoning, dict) else ""

    @admin.display(description="estimated value", ordering=ESTIMATED_VALUE)
    def estimated_value_display(self, obj):
        value = (obj.financial_metrics or {}).get("estimated_value")
        return format_money(value) if value is not None else "—"

    def get_search_results(self, request, queryset, search_term):
        # Each kind of term goes to the expression an index serves: a 4-digit term is a
        # postcode, anything else an address fragment, a suburb or an external id.
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit() and len(term) == 4:
            condition = Q(postcode_text=term) | Q(external_id=term)
        else:
            condition = (
                Q(basic_info__address__icontains=term)
                | Q(suburb_text=term.title())
                | Q(suburb_text=term)
                | Q(external_id=term)
            )
        queryset = queryset.alias(postcode_text=POSTCODE, suburb_text=SUBURB).filter(condition)
        return queryset, False

    def get_historical_record_context_helper(self, request, historical_record):
        return JSONKeyHistoryContextHelper(self.model, historical_record)

    def get_export_resource_kwargs(self, request, **kwargs):
        return kwargs

    def get_data_for_export(self, request, queryset, **kwargs):
        dataset = super().get_data_for_export(request, queryset, **kwargs)
        dataset.title = export_sheet_title(**self._exported(request))
        return dataset

    def get_export_filename(self, request, queryset, file_format):
        return export_file_name(**self._exported(request), extension=file_format.get_extension())

    def _exported(self, request) -> dict:
        """The organisation and project an export covers: the project the changelist is
        filtered to, if any, and the acting member's organisation (or that project's)."""
        scope = scope_of(request)
        project_id = request.GET.get(TenantProjectFilter.parameter_name, "")
        project = None
        if project_id.isdigit():
            project = (
                scope.filter(Project.objects.select_related("organization"))
                .filter(pk=project_id)
                .first()
            )
        organization = project.organization if project else scope.organization
        return {"organization": organization, "project": project}


@admin.register(Project)
class ProjectAdmin(TenantHistoryAdmin):
    list_display = ("name", "status", "organization", "created_by", "created_at")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("created_by", "created_at", "updated_at")
    columns_for_all_organizations = ("organization",)


@admin.register(PropertyAnalysis)
class PropertyAnalysisAdmin(ChangelistExtensionsMixin, TenantHistoryAdmin):
    form = PropertyAnalysisForm
    list_display = ("property", "analysis_type", "status", "started_at", "completed_at")
    list_filter = ("analysis_type", "status")
    list_select_related = ("property",)
    autocomplete_fields = ("property",)
    readonly_fields = ("created_by", "created_at")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_historical_record_context_helper(self, request, historical_record):
        return JSONKeyHistoryContextHelper(self.model, historical_record)
