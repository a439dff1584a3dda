"""Tenancy: which organisation a user acts for, and admin classes that never show another's rows.

Every admin of a tenant model inherits `TenantScopedAdmin` (or `TenantHistoryAdmin` for audited
models); the scoping lives here once instead of in each admin.
"""

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from .access import AccessDenied, Scope, lookup_to_organization
from .change_reasons import IN_ADMIN, NOT_RECORDED, REVERTED
from .form_inputs import StorableAutocompleteSelect, json_form_field
from .models import Organization


def scope_of(request) -> Scope:
    """The acting user's scope, built once per request."""
    scope = getattr(request, "_access_scope", None)
    if scope is None or scope.actor is not request.user:
        scope = Scope.of(request.user)
        request._access_scope = scope
    return scope


def organization_for(user) -> Organization | None:
    """The organisation the user acts for, or None when they belong to none."""
    if user is None or not user.is_authenticated:
        return None
    return Scope(user).organization


def scope_queryset(queryset: QuerySet, *, user, lookup: str = "organization") -> QuerySet:
    """Rows of `queryset` the user may see (see `Scope.filter`)."""
    return Scope.of(user).filter(queryset, lookup)


def _unusable_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unusable_parameters(query) -> set[str]:
    """Names of the query parameters (or names themselves) holding text no database column
    can hold."""
    return {
        name
        for name, values in query.lists()
        if _unusable_text(name) or any(_unusable_text(value) for value in values)
    }


def show_unreachable_links_as_text(model_admin, request, context) -> None:
    """Django shows a read-only foreign key as a link to the related row's admin page; a link
    this user could only follow to a refusal (a login's user page, the backup configuration for
    a manager) becomes text instead. Applied to a rendered form's context, after the form is
    built, so the form itself is untouched."""
    forms = [context.get("adminform"), *context.get("inline_admin_formsets", ())]
    for admin_form in filter(None, forms):
        owner = getattr(admin_form, "opts", model_admin)
        replaced = _links_as_text(owner, request)
        readonly = set(admin_form.readonly_fields)
        if not getattr(admin_form, "has_change_permission", True):
            readonly |= set(admin.utils.flatten_fieldsets(admin_form.fieldsets))
        swapped = {name: display for name, display in replaced.items() if name in readonly}
        if not swapped:
            continue
        admin_form.fieldsets = [
            (
                title,
                {
                    **options,
                    "fields": [_replace_names(entry, swapped) for entry in options["fields"]],
                },
            )
            for title, options in admin_form.fieldsets
        ]
        admin_form.readonly_fields = [
            *(name for name in admin_form.readonly_fields if name not in swapped),
            *swapped.values(),
        ]


def _links_as_text(model_admin, request) -> dict:
    return {
        field.name: _related_as_text(field, scope_of(request))
        for field in model_admin.model._meta.concrete_fields
        if field.is_relation and not _can_open(model_admin.admin_site, request, field)
    }


#: What the admin shows for an empty value (its own default).
EMPTY_VALUE = "-"


def _can_open(site, request, field) -> bool:
    related_admin = site._registry.get(field.related_model)
    return related_admin is None or related_admin.has_view_permission(request)


def _replace_names(entry, swapped: dict):
    if isinstance(entry, (list, tuple)):
        return type(entry)(_replace_names(name, swapped) for name in entry)
    return swapped.get(entry, entry) if isinstance(entry, str) else entry


def _related_as_text(field, scope: Scope):
    is_login = field.related_model is get_user_model()

    @admin.display(description=field.verbose_name)
    def display(obj):
        related = getattr(obj, field.name, None)
        if related is None:
            return EMPTY_VALUE
        profile = getattr(related, "profile", None) if is_login else None
        if profile is not None and scope.includes(profile.organization_id):
            # A login is shown as its member page, which every role may open.
            url = reverse("admin:organizations_profile_change", args=[profile.pk])
            return format_html('<a href="{}">{}</a>', url, related)
        return str(related)

    display.__name__ = f"{field.name}_as_text"
    return display


class TenantScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose every page, action, choice list and export is limited to the acting
    user's organisation. Superusers see everything."""

    #: Changelist columns shown only to whoever sees every organisation (a member's rows all
    #: belong to one, so its column would say the same on every row).
    columns_for_all_organizations = ()

    #: Lookup from this admin's model to its Organization.
    tenant_lookup = "organization"
    #: True when the model has an index on (organisation, id): a member's changelist in its
    #: default order (newest first) is then ordered and filtered so that index serves it
    #: (`Scope.filter_in_tenant_order`).
    tenant_order_index = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self._in_tenant_order(request):
            return scope_of(request).filter_in_tenant_order(queryset, self.tenant_lookup)
        return scope_of(request).filter(queryset, self.tenant_lookup)

    def get_ordering(self, request):
        if self._in_tenant_order(request):
            return (f"-{self.tenant_lookup}_id", "-pk")
        return super().get_ordering(request)

    def _in_tenant_order(self, request) -> bool:
        # Only the default order: sorted by a column, the query must keep the plain `=` that
        # lets PostgreSQL read that column's (organisation, column) index in order.
        return (
            self.tenant_order_index
            and not request.GET.get(ORDER_VAR)
            and not scope_of(request).sees_all
        )

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another organisation's row and a missing row answer the same: 404.
        raise Http404(f"No {opts.verbose_name} with id {object_id!r}.")

    def _is_member(self, request) -> bool:
        return scope_of(request).is_member

    def has_module_permission(self, request):
        return self._is_member(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._is_member(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return self._is_member(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self._is_member(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_member(request) and super().has_delete_permission(request, obj)

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if not self.columns_for_all_organizations or scope_of(request).sees_all:
            return columns
        return tuple(name for name in columns if name not in self.columns_for_all_organizations)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        show_unreachable_links_as_text(self, request, context)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        # Members never choose an organisation: theirs is the only one.
        if not scope_of(request).sees_all and self._has_field("organization"):
            exclude.append("organization")
        return exclude or None

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # The exact class only: a subclass (PropertyJSONField) brings its own form field.
        if type(db_field) is models.JSONField and json_form_field() is not None:
            kwargs.setdefault("form_class", json_form_field())
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        widget = getattr(formfield, "widget", None)
        if isinstance(widget, RelatedFieldWidgetWrapper):
            # The pencil, x and + beside a choice open the related admin's pages, whose
            # permissions are model-wide: for a member they lead to a refusal or, through a
            # popup's changelist, to rows this form could not choose. The choice itself stays
            # (scoped in formfield_for_foreignkey).
            widget.can_add_related = False
            widget.can_change_related = False
            widget.can_delete_related = False
            widget.can_view_related = False
        return formfield

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        lookup = lookup_to_organization(db_field.related_model)
        if lookup is not None:
            base = kwargs.get("queryset", db_field.related_model._default_manager.all())
            kwargs["queryset"] = scope_of(request).filter(base, lookup)
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = StorableAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        self.prepare_for_save(request, obj, change)
        super().save_model(request, obj, form, change)

    def prepare_for_save(self, request, obj, change) -> None:
        """Fill in what a member does not choose (their organisation, themselves as creator)
        and keep what they may not edit; an admin whose save_model calls a service calls this
        first."""
        scope = scope_of(request)
        if change and not scope.sees_all:
            self._keep_read_only_values(request, obj)
        if not change:
            if self._has_field("organization") and not scope.sees_all:
                obj.organization = scope.organization
            if self._has_field("created_by") and obj.created_by_id is None:
                obj.created_by = request.user

    def _keep_read_only_values(self, request, obj) -> None:
        """A revert saves a whole historical instance; fields this user may not edit keep
        their current values instead of the old version's."""
        read_only = set(self.get_readonly_fields(request, obj)) | set(
            self.get_exclude(request, obj) or ()
        )
        concrete = {field.name: field for field in self.model._meta.concrete_fields}
        names = [name for name in read_only if name in concrete and not concrete[name].primary_key]
        if not names:
            return
        current = (
            self.model._default_manager.filter(pk=obj.pk)
            .values(*(concrete[name].attname for name in names))
            .first()
        )
        for attname, value in (current or {}).items():
            setattr(obj, attname, value)

    def _has_field(self, name: str) -> bool:
        return any(field.name == name for field in self.model._meta.get_fields())


class TenantHistoryAdmin(TenantScopedAdmin, SimpleHistoryAdmin):
    """Tenant scoping for simple-history's history, version and revert pages.

    simple-history falls back to the latest historical row when an object is not in
    `get_queryset`, which would show another organisation's deleted rows; filtering the history
    itself by organisation closes that path.
    """

    #: Lookup from the historical model to the organisation id it belongs to.
    history_tenant_lookup = "organization_id"
    object_history_list_template = "admin/object_history_list.html"

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        queryset = super().get_history_queryset(request, history_manager, pk_name, object_id)
        return scope_of(request).filter(queryset, self.history_tenant_lookup)

    def history_view(self, request, object_id, extra_context=None):
        if not self._is_member(request):
            raise AccessDenied("Only members of an organisation see its history.")
        if not self.has_view_history_or_change_history_permission(request):
            raise scope_of(request).refusal(self._history_permission("view"))
        extra_context = {**(extra_context or {})}
        if not request.user.has_perm(
            f"{self._user_opts.app_label}.view_{self._user_opts.model_name}"
        ):
            # simple-history links "changed by" to the login's admin page; a name no URL has
            # makes its template show the name as text instead of a link to a refusal.
            extra_context["admin_user_view"] = "no-user-page"
        return super().history_view(request, object_id, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The History button is shown only to roles that may open the history.
        context["show_history_link"] = self.has_view_history_or_change_history_permission(
            request, obj
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        # The history row says where the change came from (a revert names its version).
        obj._change_reason = (
            getattr(request, "_revert_reason", None) or IN_ADMIN["~" if change else "+"]
        )
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        obj._change_reason = IN_ADMIN["-"]
        super().delete_model(request, obj)

    def render_history_view(self, request, template, context, **kwargs):
        context["reason_not_recorded"] = NOT_RECORDED
        show_unreachable_links_as_text(self, request, context)
        return super().render_history_view(request, template, context, **kwargs)

    @property
    def _user_opts(self):
        return get_user_model()._meta

    def _history_permission(self, verb: str) -> str:
        opts = self.model._meta
        return f"{opts.app_label}.{verb}_historical{opts.model_name}"

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        history = self.model.history
        versions = self.get_history_queryset(
            request, history, self.model._meta.pk.attname, object_id
        )
        if not versions.filter(history_id=version_id).exists():
            raise Http404
        if request.method == "POST":
            # simple-history saves a revert without asking; only roles that may change history
            # (managers and admins) may revert, and only within their own organisation.
            current = self.get_queryset(request).filter(pk=object_id).first()
            if current is None or not self.has_change_history_permission(request, current):
                raise scope_of(request).refusal(self._history_permission("change"))
            version = versions.get(history_id=version_id)
            request._revert_reason = REVERTED.format(
                date=f"{timezone.localtime(version.history_date):%Y-%m-%d %H:%M}"
            )
        return super().history_form_view(request, object_id, version_id, extra_context)
