"""Admin of backups (list, page with Download, Verify and Restore, the Back up now button and
actions) and their configurations; restores are in admin_restores.py, recovery points, drills
and point-in-time restores in admin_recovery.py."""

import os

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django_q.models import Schedule

from organizations.admin_pages import ServiceDeleteMixin, page_urls
from organizations.tenancy import TenantScopedAdmin, scope_of

from .admin_plans import plan_start, restore_options
from .models import BackupConfig, BackupExecution
from .selectors import backup_execution_list
from .services.permissions import BACKUP_PERMISSION, RESTORE_PERMISSION
from .services.runs import runs_fail_stopped
from .services.schedules import backup_config_delete, backup_config_save
from .tasks import (
    enqueue_backup_create,
    enqueue_backup_drill,
    enqueue_backup_verify,
)


def _human_size(size_bytes) -> str:
    if size_bytes is None:
        return "–"
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _back_up(model_admin, request, organizations) -> None:
    for organization in organizations:
        enqueue_backup_create(organization=organization, actor=request.user)
    names = ", ".join(sorted(str(organization) for organization in organizations))
    model_admin.message_user(request, f"Backup started for {names}.", messages.SUCCESS)


def _queue_completed(queryset, enqueue, actor) -> tuple[int, int]:
    """Queues `enqueue` for each completed backup of `queryset`: (queued, skipped)."""
    backups = list(queryset.filter(status=BackupExecution.Status.COMPLETED))
    for backup in backups:
        enqueue(backup=backup, actor=actor)
    return len(backups), queryset.count() - len(backups)


@admin.register(BackupExecution)
class BackupExecutionAdmin(TenantScopedAdmin):
    list_display = (
        "id",
        "organization",
        "backup_type",
        "status",
        "started_at",
        "size",
        "record_count",
        "duration",
        "verification_status",
        "replica_status",
        "download_link",
        "error_message",
    )
    list_filter = ("status", "backup_type", "verification_status")
    list_select_related = ("organization", "config")
    search_fields = ("sha256", "organization__slug")
    date_hierarchy = "started_at"
    readonly_fields = (
        "organization",
        "config",
        "backup_type",
        "status",
        "started_at",
        "completed_at",
        "size",
        "record_count",
        "duration",
        "sha256",
        "error_message",
        "base_backup",
        "verification_status",
        "verified_at",
        "verification_message",
        "replica_status",
        "replica_sha256",
        "replica_checked_at",
        "replica_message",
        "created_by",
        "download_link",
    )
    fields = readonly_fields
    actions = ["back_up_now", "verify_backups", "drill_backups", "restore_backup"]
    change_form_template = "admin/backups/backupexecution/change_form.html"

    def get_queryset(self, request):
        return backup_execution_list(user=request.user)

    @admin.display(description="size", ordering="size_bytes")
    def size(self, obj):
        return _human_size(obj.size_bytes)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj):
        return "–" if obj.duration_ms is None else f"{obj.duration_ms / 1000:.1f} s"

    @admin.display(description="archive")
    def download_link(self, obj):
        if not obj.archive:
            return "–"
        url = reverse("admin:backups_backupexecution_download", args=[obj.pk])
        return format_html('<a href="{}">download</a>', url)

    # Backups are made by "back up now" or a schedule, never typed in; they are read-only.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_backup_permission(self, request):
        return scope_of(request).can(BACKUP_PERMISSION)

    def has_restore_permission(self, request):
        return scope_of(request).can(RESTORE_PERMISSION)

    def get_urls(self):
        return [
            *page_urls(
                self,
                ("back-up-now/", self.back_up_now_view, "backups_backupexecution_back_up_now"),
                (
                    "<path:object_id>/download/",
                    self.download_view,
                    "backups_backupexecution_download",
                ),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        # Rows whose worker died read "failed: worker stopped" here rather than running forever.
        runs_fail_stopped(actor=request.user)
        extra_context = {
            **(extra_context or {}),
            "can_back_up": self.has_backup_permission(request)
            and scope_of(request).organization is not None,
        }
        return super().changelist_view(request, extra_context)

    def back_up_now_view(self, request):
        """The changelist's "Back up now" button: a backup of the user's own organisation."""
        organization = scope_of(request).organization
        if request.method != "POST" or not self.has_backup_permission(request):
            raise Http404
        if organization is None:
            self.message_user(
                request, "Choose backups of an organisation and use the action.", messages.ERROR
            )
        else:
            enqueue_backup_create(organization=organization, actor=request.user)
            self.message_user(request, f"Backup of {organization} started.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:backups_backupexecution_changelist"))

    def get_fields(self, request, obj=None):
        if self.has_backup_permission(request):
            return self.fields
        return tuple(name for name in self.fields if name != "download_link")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The page's Verify and Restore buttons post the changelist's own actions for this
        # one backup, so the confirmation page and the checks are the actions'.
        backup = self.get_object(request, object_id)
        completed = backup is not None and backup.status == BackupExecution.Status.COMPLETED
        extra_context = {
            **(extra_context or {}),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "can_verify": completed and self.has_backup_permission(request),
            "can_restore": completed and self.has_restore_permission(request),
            "can_download": bool(backup and backup.archive) and self.has_backup_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_list_display(self, request):
        # The archive holds the organisation's full history, which only managers may read.
        if self.has_backup_permission(request):
            return self.list_display
        return tuple(name for name in self.list_display if name != "download_link")

    def download_view(self, request, object_id):
        backup = self.get_object(request, object_id)
        if backup is None or not self.has_view_permission(request, backup) or not backup.archive:
            raise Http404("No such backup archive.")
        if not self.has_backup_permission(request):
            raise PermissionDenied
        storage = backup.archive.storage
        if not storage.exists(backup.archive.name):
            raise Http404("The archive file is missing.")
        return FileResponse(
            storage.open(backup.archive.name, "rb"),
            as_attachment=True,
            filename=os.path.basename(backup.archive.name),
        )

    @admin.action(
        description="Back up now (the selected backups' organisations)", permissions=["backup"]
    )
    def back_up_now(self, request, queryset):
        _back_up(self, request, {backup.organization for backup in queryset})

    @admin.action(
        description="Verify the selected backups (checksum and restore drill)",
        permissions=["backup"],
    )
    def verify_backups(self, request, queryset):
        queued, skipped = _queue_completed(queryset, enqueue_backup_verify, request.user)
        message = f"Verification started for {queued} backup(s)."
        if skipped:
            message += f" {skipped} not completed, skipped."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(
        description="Drill the selected backups (restore into scratch tables and check)",
        permissions=["backup"],
    )
    def drill_backups(self, request, queryset):
        queued, _ = _queue_completed(queryset, enqueue_backup_drill, request.user)
        self.message_user(
            request,
            f"Restore drill started for {queued} backup(s); results under Backup drills.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Restore the organisation from the selected backup…", permissions=["restore"]
    )
    def restore_backup(self, request, queryset):
        """Queues the dry-run plan with the options posted (replace_all unless a plan page's
        form chose others) and opens the plan page, where the restore is confirmed."""
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one backup to restore.", messages.ERROR)
            return None
        backup = queryset.get()
        return plan_start(
            self,
            request,
            organization=backup.organization,
            backup=backup,
            **restore_options(request.POST),
        )


@admin.register(BackupConfig)
class BackupConfigAdmin(ServiceDeleteMixin, TenantScopedAdmin):
    list_display = (
        "organization",
        "backup_type",
        "schedule_cron",
        "retention_days",
        "is_active",
        "next_run",
        "created_at",
    )
    list_filter = ("backup_type", "is_active")
    list_select_related = ("organization",)
    actions = ["back_up_now"]

    @admin.display(description="next run")
    def next_run(self, obj):
        schedule = Schedule.objects.filter(name=f"backup-config-{obj.pk}").first()
        return schedule.next_run if schedule else "–"

    def has_backup_permission(self, request):
        return scope_of(request).can(BACKUP_PERMISSION)

    def save_model(self, request, obj, form, change):
        self.prepare_for_save(request, obj, change)
        backup_config_save(config=obj, actor=request.user)

    def delete_row(self, obj, *, actor):
        backup_config_delete(config=obj, actor=actor)

    @admin.action(description="Back up now", permissions=["backup"])
    def back_up_now(self, request, queryset):
        _back_up(self, request, {config.organization for config in queryset})


from . import admin_recovery, admin_restores  # noqa: E402, F401  (register their admins)
