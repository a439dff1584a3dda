"""Tenancy: which organisation a user acts for, and admin classes that never show another's rows.

Every admin of a tenant model inherits `TenantScopedAdmin` (or `TenantHistoryAdmin` for audited
models); the scoping lives here once instead of in each admin.
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from .access import AccessDenied, Scope, lookup_to_organization
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


class TenantScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose every page, action, choice list and export is limited to the acting
    user's organisation. Superusers see everything."""

    #: Lookup from this admin's model to its Organization.
    tenant_lookup = "organization"

    def get_queryset(self, request):
        return scope_of(request).filter(super().get_queryset(request), self.tenant_lookup)

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

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        # Members never choose an organisation: theirs is the only one.
        if not scope_of(request).sees_all and self._has_field("organization"):
            exclude.append("organization")
        return exclude or None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        lookup = lookup_to_organization(db_field.related_model)
        if lookup is not None:
            base = kwargs.get("queryset", db_field.related_model._default_manager.all())
            kwargs["queryset"] = scope_of(request).filter(base, lookup)
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

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        queryset = super().get_history_queryset(request, history_manager, pk_name, object_id)
        return scope_of(request).filter(queryset, self.history_tenant_lookup)

    def history_view(self, request, object_id, extra_context=None):
        if not self._is_member(request):
            raise AccessDenied("Only members of an organisation see its history.")
        return super().history_view(request, object_id, extra_context)

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
                raise AccessDenied("Reverting needs the manager role or above.")
        return super().history_form_view(request, object_id, version_id, extra_context)
