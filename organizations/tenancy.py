"""Tenancy: which organisation a user acts for, and admin classes that never show another's rows.

Every admin of a tenant model inherits `TenantScopedAdmin` (or `TenantHistoryAdmin` for audited
models); the scoping lives here once instead of in each admin.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from .models import Organization, Profile

_CACHE_ATTR = "_tenant_organization"


def organization_for(user) -> Organization | None:
    """The organisation the user acts for, or None when they belong to none."""
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(user, _CACHE_ATTR):
        profile = Profile.objects.select_related("organization").filter(user=user).first()
        setattr(user, _CACHE_ATTR, profile.organization if profile else None)
    return getattr(user, _CACHE_ATTR)


def role_for(user) -> str | None:
    return Profile.objects.filter(user=user).values_list("role", flat=True).first()


def scope_queryset(queryset: QuerySet, *, user, lookup: str = "organization") -> QuerySet:
    """Rows of `queryset` the user may see: all for a superuser, their organisation's for a
    member, none for anyone else."""
    if user.is_superuser:
        return queryset
    organization = organization_for(user)
    if organization is None:
        return queryset.none()
    return queryset.filter(**{lookup: organization.pk})


def _tenant_lookup_for(model: type[Model]) -> str | None:
    """How to reach the organisation from `model`, for models the tenancy layer knows."""
    if model is Organization:
        return "pk"
    if model is get_user_model():
        return "profile__organization"
    field_names = {field.name for field in model._meta.get_fields()}
    if "organization" in field_names:
        return "organization"
    return None


class TenantScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose every page, action, choice list and export is limited to the acting
    user's organisation. Superusers see everything."""

    #: Lookup from this admin's model to its Organization.
    tenant_lookup = "organization"

    def get_queryset(self, request):
        return scope_queryset(
            super().get_queryset(request), user=request.user, lookup=self.tenant_lookup
        )

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another organisation's row and a missing row answer the same: 404.
        raise Http404(f"No {opts.verbose_name} with id {object_id!r}.")

    def _is_member(self, request) -> bool:
        return request.user.is_superuser or organization_for(request.user) is not None

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
        if not request.user.is_superuser and self._has_field("organization"):
            exclude.append("organization")
        return exclude or None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        lookup = _tenant_lookup_for(db_field.related_model)
        if lookup is not None and not request.user.is_superuser:
            base = kwargs.get("queryset", db_field.related_model._default_manager.all())
            kwargs["queryset"] = scope_queryset(base, user=request.user, lookup=lookup)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change and not request.user.is_superuser:
            self._keep_read_only_values(request, obj)
        if not change:
            if self._has_field("organization") and not request.user.is_superuser:
                obj.organization = organization_for(request.user)
            if self._has_field("created_by") and obj.created_by_id is None:
                obj.created_by = request.user
        super().save_model(request, obj, form, change)

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
        if request.user.is_superuser:
            return queryset
        organization = organization_for(request.user)
        if organization is None:
            return queryset.none()
        return queryset.filter(**{self.history_tenant_lookup: organization.pk})

    def history_view(self, request, object_id, extra_context=None):
        if not self._is_member(request):
            raise PermissionDenied
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
                raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
