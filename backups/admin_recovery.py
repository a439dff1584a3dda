"""Admin of recovery points: listed newest first, created by a task, restored through the
backup's confirmation page."""

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from organizations.tenancy import TenantScopedAdmin, organization_for, scope_of

from .models import BackupExecution, RecoveryPoint
from .selectors import backup_execution_list
from .tasks import enqueue_recovery_point_create

BACKUP_PERMISSION = "backups.add_backupexecution"
RESTORE_PERMISSION = "backups.restore_backupexecution"


class RecoveryPointForm(forms.Form):
    description = forms.CharField(
        max_length=300, help_text="What the organisation is about to go through, e.g. a reload."
    )


@admin.register(RecoveryPoint)
class RecoveryPointAdmin(TenantScopedAdmin):
    list_display = ("created_at", "description", "organization", "backup", "created_by")
    list_select_related = ("organization", "backup", "created_by")
    search_fields = ("description",)
    readonly_fields = ("organization", "description", "backup", "created_by", "created_at")
    fields = readonly_fields
    actions = ["restore_to_point"]

    def has_add_permission(self, request):
        return (
            self._is_member(request)
            and organization_for(request.user) is not None
            and scope_of(request).can(
                BACKUP_PERMISSION, organization=organization_for(request.user)
            )
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return self._is_member(request) and request.user.has_perm("backups.view_backupexecution")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_restore_permission(self, request):
        return self._is_member(request) and request.user.has_perm(RESTORE_PERMISSION)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise Http404
        organization = organization_for(request.user)
        form = RecoveryPointForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            enqueue_recovery_point_create(
                organization=organization,
                actor=request.user,
                description=form.cleaned_data["description"],
            )
            self.message_user(
                request,
                f"Recovery point “{form.cleaned_data['description']}” of {organization} is "
                "being taken; it is listed here once its backup has completed.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:backups_recoverypoint_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Create a recovery point",
            "opts": self.model._meta,
            "form": form,
            "organization": organization,
        }
        return TemplateResponse(request, "admin/backups/recoverypoint/create.html", context)

    @admin.action(
        description="Restore the organisation to the selected recovery point…",
        permissions=["restore"],
    )
    def restore_to_point(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one recovery point.", messages.ERROR)
            return None
        point = queryset.get()
        backups = backup_execution_list(user=request.user).filter(pk=point.backup_id)
        backup_admin = self.admin_site._registry[BackupExecution]
        # The backup's own confirmation page, posting back to the backups' changelist.
        return backup_admin.restore_backup(
            request, backups, form_url=reverse("admin:backups_backupexecution_changelist")
        )
