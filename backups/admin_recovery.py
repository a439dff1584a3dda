"""Admin of recovery points (listed newest first, created by a task, restored through a plan
like a backup), point-in-time restores (an instant picked, then its plan) and restore drills."""

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from organizations.admin_pages import page_urls
from organizations.tenancy import scope_of

from .admin_plans import plan_start
from .admin_restores import BackupRecordAdmin
from .models import BackupDrill, RecoveryPoint, RestoreExecution
from .pitr import restorable_window
from .selectors import backup_execution_list
from .services.permissions import BACKUP_PERMISSION, RESTORE_PERMISSION
from .tasks import enqueue_recovery_point_create


class RecoveryPointForm(forms.Form):
    description = forms.CharField(
        max_length=300, help_text="What the organisation is about to go through, e.g. a reload."
    )


@admin.register(RecoveryPoint)
class RecoveryPointAdmin(BackupRecordAdmin):
    list_display = ("created_at", "description", "organization", "backup", "created_by")
    list_select_related = ("organization", "backup", "created_by")
    search_fields = ("description",)
    readonly_fields = ("organization", "description", "backup", "created_by", "created_at")
    fields = readonly_fields
    actions = ["restore_to_point"]

    def has_add_permission(self, request):
        return (
            self._is_member(request)
            and scope_of(request).organization is not None
            and scope_of(request).can(
                BACKUP_PERMISSION, organization=scope_of(request).organization
            )
        )

    def has_restore_permission(self, request):
        return scope_of(request).can(RESTORE_PERMISSION)

    def _restorable_organization(self, request):
        organization = scope_of(request).organization
        if organization is None or not scope_of(request).can(
            RESTORE_PERMISSION, organization=organization
        ):
            return None
        return organization

    def get_urls(self):
        return [
            *page_urls(
                self,
                ("point-in-time/", self.point_in_time_view, "backups_recoverypoint_point_in_time"),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        organization = scope_of(request).organization
        window = None
        if organization is not None:
            start, _ = restorable_window(organization)
            window = {"organization": organization, "start": start}
        extra_context = {
            **(extra_context or {}),
            "window": window,
            "can_restore_in_time": self._restorable_organization(request) is not None,
        }
        return super().changelist_view(request, extra_context)

    def point_in_time_view(self, request):
        """A date-time picker; the instant chosen is planned as a task, on the plan page."""
        organization = self._restorable_organization(request)
        if organization is None:
            raise Http404
        as_of_value = request.POST.get("as_of") or timezone.localtime().strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        if request.method == "POST":
            as_of = parse_datetime(as_of_value)
            if as_of is not None:
                return plan_start(
                    self,
                    request,
                    organization=organization,
                    strategy=RestoreExecution.Strategy.POINT_IN_TIME,
                    as_of=as_of,
                )
            self.message_user(request, f"{as_of_value} is not a date and time.", messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "title": "Restore to a point in time",
            "opts": self.model._meta,
            "organization": organization,
            "window_start": restorable_window(organization)[0],
            "as_of_value": as_of_value,
            "time_zone": timezone.get_current_timezone_name(),
        }
        return TemplateResponse(request, "admin/backups/recoverypoint/point_in_time.html", context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise Http404
        organization = scope_of(request).organization
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
        backup = backup_execution_list(user=request.user).filter(pk=point.backup_id).first()
        if backup is None:
            raise Http404(f"Recovery point {point.pk} has no backup you may see.")
        return plan_start(self, request, organization=point.organization, backup=backup)


@admin.register(BackupDrill)
class BackupDrillAdmin(BackupRecordAdmin):
    list_display = ("started_at", "organization", "backup", "status", "fingerprint_matches")
    list_filter = ("status",)
    list_select_related = ("organization", "backup")
    readonly_fields = (
        "organization",
        "backup",
        "status",
        "started_at",
        "completed_at",
        "fingerprint_matches",
        "check_results",
        "message",
    )
    fields = readonly_fields
