import os

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django_q.models import Schedule

from organizations.tenancy import TenantScopedAdmin, scope_of

from .admin_plans import restore_options, restore_plan_context
from .archive import ArchiveError, spec_for, table_specs
from .merge import CONFLICT_POLICIES
from .models import BackupConfig, BackupExecution, RestoreExecution
from .selectors import backup_execution_list, restore_execution_list
from .services.permissions import BACKUP_PERMISSION, RESTORE_PERMISSION, BackupRefused
from .services.restore import backup_restore
from .services.runs import runs_fail_stopped
from .services.schedules import backup_config_delete, backup_config_save
from .tasks import (
    enqueue_backup_create,
    enqueue_backup_drill,
    enqueue_backup_restore,
    enqueue_backup_verify,
)

COUNT_KEYS = ("inserted", "updated", "deleted")


def _human_size(size_bytes) -> str:
    if size_bytes is None:
        return "–"
    size = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


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
            path(
                "back-up-now/",
                self.admin_site.admin_view(self.back_up_now_view),
                name="backups_backupexecution_back_up_now",
            ),
            path(
                "<path:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="backups_backupexecution_download",
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
        organizations = {backup.organization for backup in queryset}
        for organization in organizations:
            enqueue_backup_create(organization=organization, actor=request.user)
        names = ", ".join(sorted(str(organization) for organization in organizations))
        self.message_user(request, f"Backup started for {names}.", messages.SUCCESS)

    @admin.action(
        description="Verify the selected backups (checksum and restore drill)",
        permissions=["backup"],
    )
    def verify_backups(self, request, queryset):
        backups = list(queryset.filter(status=BackupExecution.Status.COMPLETED))
        for backup in backups:
            enqueue_backup_verify(backup=backup, actor=request.user)
        skipped = queryset.count() - len(backups)
        message = f"Verification started for {len(backups)} backup(s)."
        if skipped:
            message += f" {skipped} not completed, skipped."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(
        description="Drill the selected backups (restore into scratch tables and check)",
        permissions=["backup"],
    )
    def drill_backups(self, request, queryset):
        backups = list(queryset.filter(status=BackupExecution.Status.COMPLETED))
        for backup in backups:
            enqueue_backup_drill(backup=backup, actor=request.user)
        self.message_user(
            request,
            f"Restore drill started for {len(backups)} backup(s); results under Backup drills.",
            messages.SUCCESS,
        )

    @admin.action(
        description="Restore the organisation from the selected backup…", permissions=["restore"]
    )
    def restore_backup(self, request, queryset, form_url=""):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one backup to restore.", messages.ERROR)
            return None
        backup = queryset.get()
        scope = scope_of(request)
        cross_org = scope.sees_all and not scope.belongs_to(backup.organization_id)
        options = restore_options(request.POST)
        if request.POST.get("post") == "yes":
            if cross_org and request.POST.get("allow_cross_org") != "yes":
                self.message_user(
                    request,
                    f"Restoring {backup.organization} from outside it must be confirmed "
                    "explicitly: tick the cross-organisation box.",
                    messages.ERROR,
                )
                return None
            enqueue_backup_restore(
                backup=backup, actor=request.user, allow_cross_org=cross_org, **options
            )
            self.message_user(
                request,
                f"Restore of {backup.organization} from backup {backup.pk} started; its outcome "
                "is listed under Restore executions.",
                messages.SUCCESS,
            )
            return None
        try:
            # The preview changes nothing, so a superuser sees it before confirming.
            preview = backup_restore(
                backup=backup,
                organization=backup.organization,
                actor=request.user,
                dry_run=True,
                allow_cross_org=scope.sees_all,
                **options,
            )
        except BackupRefused as exc:
            self.message_user(request, f"Restore refused: {exc.messages[0]}", messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Restore from backup: are you sure?",
            "opts": self.model._meta,
            "backup": backup,
            **restore_plan_context(preview),
            "options": options,
            "strategies": RestoreExecution.Strategy.choices,
            "policies": CONFLICT_POLICIES,
            "all_tables": [spec.name for spec in table_specs()],
            "cross_org": cross_org,
            "form_url": form_url,
            "queryset": queryset,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/backups/restore_confirmation.html", context)


@admin.register(RestoreExecution)
class RestoreExecutionAdmin(TenantScopedAdmin):
    list_display = (
        "id",
        "organization",
        "backup",
        "strategy",
        "dry_run",
        "status",
        "started_at",
        "completed_at",
        "changes",
        "actor",
        "error_message",
    )
    list_filter = ("status", "dry_run", "strategy")
    list_select_related = ("organization", "backup", "actor")
    readonly_fields = (
        "organization",
        "backup",
        "strategy",
        "dry_run",
        "status",
        "started_at",
        "completed_at",
        "counts_table",
        "archive_note",
        "error_message",
        "actor",
    )
    fields = readonly_fields
    change_list_template = "admin/backups/restoreexecution/change_list.html"
    change_form_template = "admin/backups/restoreexecution/change_form.html"
    #: Seconds between reloads of the restore pages while a restore runs.
    refresh_seconds = 5

    def get_queryset(self, request):
        return restore_execution_list(user=request.user)

    @admin.display(description="inserted / updated / deleted")
    def changes(self, obj):
        totals = [
            sum(table.get(key, 0) for table in (obj.counts or {}).values())
            for key in ("inserted", "updated", "deleted")
        ]
        return " / ".join(str(total) for total in totals)

    @admin.display(description="counts")
    def counts_table(self, obj):
        return render_to_string("admin/backups/_restore_counts.html", {"rows": _count_rows(obj)})

    def changelist_view(self, request, extra_context=None):
        # Rows whose worker died read "failed: worker stopped" here rather than running forever.
        runs_fail_stopped(actor=request.user)
        running = self.get_queryset(request).filter(status=RestoreExecution.Status.RUNNING)
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": self.refresh_seconds if running.exists() else None,
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        restore = self.get_object(request, object_id)
        running = restore is not None and restore.status == RestoreExecution.Status.RUNNING
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": self.refresh_seconds if running else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Restores are part of the backups' record: whoever may see backups sees them.
        return scope_of(request).can("backups.view_backupexecution")

    def has_module_permission(self, request):
        return self.has_view_permission(request)


def _count_rows(restore: RestoreExecution) -> list[dict]:
    """Per table (named as people call it), what the restore inserted, updated and deleted,
    with a total row."""
    rows = []
    for table, counts in (restore.counts or {}).items():
        try:
            name = spec_for(table).model._meta.verbose_name_plural
        except ArchiveError:
            name = table
        rows.append({"table": name, **{key: counts.get(key, 0) for key in COUNT_KEYS}})
    if rows:
        rows.append(
            {"table": "Total", "total": True, **{k: sum(r[k] for r in rows) for k in COUNT_KEYS}}
        )
    return rows


@admin.register(BackupConfig)
class BackupConfigAdmin(TenantScopedAdmin):
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

    def delete_model(self, request, obj):
        backup_config_delete(config=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for config in queryset:
            backup_config_delete(config=config, actor=request.user)

    @admin.action(description="Back up now", permissions=["backup"])
    def back_up_now(self, request, queryset):
        organizations = {config.organization for config in queryset}
        for organization in organizations:
            enqueue_backup_create(organization=organization, actor=request.user)
        names = ", ".join(sorted(str(organization) for organization in organizations))
        self.message_user(request, f"Backup started for {names}.", messages.SUCCESS)


from . import admin_recovery  # noqa: E402, F401  (registers the recovery point admin)
