"""Admin of restore executions: the list and page of every restore and dry run (refreshing
while one is pending or running), and the plan page a dry run queued from the admin opens on:
its progress, then the plan and the Confirm button that queues the restore itself."""

from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from organizations.admin_pages import RecordAdminMixin, change_redirect, page_urls
from organizations.tenancy import TenantScopedAdmin, scope_of

from .admin_plans import plan_url, restore_plan_context
from .archive import ArchiveError, spec_for, table_specs
from .merge import CONFLICT_POLICIES
from .models import RestoreExecution
from .selectors import restore_execution_list
from .services.permissions import RESTORE_PERMISSION, BackupRefused
from .services.queued import restore_confirm
from .services.runs import runs_fail_stopped

COUNT_KEYS = ("inserted", "updated", "deleted")
Status = RestoreExecution.Status
#: A restore without an outcome yet: its pages reload themselves.
UNFINISHED = (Status.PENDING, Status.RUNNING)


class BackupRecordAdmin(RecordAdminMixin, TenantScopedAdmin):
    """Records of the backups app: whoever may see backups sees them."""

    def has_view_permission(self, request, obj=None):
        return scope_of(request).can("backups.view_backupexecution")

    def has_module_permission(self, request):
        return self.has_view_permission(request)


@admin.register(RestoreExecution)
class RestoreExecutionAdmin(BackupRecordAdmin):
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
        "plan_link",
        "actor",
        "error_message",
    )
    list_filter = ("status", "dry_run", "strategy")
    list_select_related = ("organization", "backup", "actor")
    readonly_fields = (
        "organization",
        "backup",
        "strategy",
        "as_of",
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
    #: Seconds between reloads of the restore list and page while a restore is unfinished.
    refresh_seconds = 5
    #: Seconds between reloads of a plan page until the plan is ready.
    plan_refresh_seconds = 2

    def get_queryset(self, request):
        return restore_execution_list(user=request.user)

    @admin.display(description="inserted / updated / deleted")
    def changes(self, obj):
        totals = [
            sum(table.get(key, 0) for table in (obj.counts or {}).values()) for key in COUNT_KEYS
        ]
        return " / ".join(str(total) for total in totals)

    @admin.display(description="plan")
    def plan_link(self, obj):
        return format_html('<a href="{}">plan</a>', plan_url(obj)) if obj.dry_run else "–"

    @admin.display(description="counts")
    def counts_table(self, obj):
        return render_to_string("admin/backups/_restore_counts.html", {"rows": _count_rows(obj)})

    def get_list_display(self, request):
        if scope_of(request).can(RESTORE_PERMISSION):
            return self.list_display
        return tuple(name for name in self.list_display if name != "plan_link")

    def get_urls(self):
        return [
            *page_urls(
                self, ("<path:object_id>/plan/", self.plan_view, "backups_restoreexecution_plan")
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        # Rows whose worker died read "failed: worker stopped" here rather than running forever.
        runs_fail_stopped(actor=request.user)
        unfinished = self.get_queryset(request).filter(status__in=UNFINISHED).exists()
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": self.refresh_seconds if unfinished else None,
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        runs_fail_stopped(actor=request.user)
        restore = self.get_object(request, object_id)
        unfinished = restore is not None and restore.status in UNFINISHED
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": self.refresh_seconds if unfinished else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def plan_view(self, request, object_id):
        """A dry run's progress, then its plan and the Confirm button (POST: queue the
        restore it planned and open that restore's page)."""
        runs_fail_stopped(actor=request.user)
        plan = self.get_object(request, object_id)
        if plan is None or not plan.dry_run:
            raise Http404(f"No restore plan with id {object_id!r}.")
        scope = scope_of(request)
        scope.require(RESTORE_PERMISSION, organization=plan.organization)
        cross_org = scope.sees_all and not scope.belongs_to(plan.organization_id)
        if request.method == "POST":
            return self._confirm(request, plan, cross_org)
        context = {
            **self.admin_site.each_context(request),
            **self._plan_context(plan),
            "title": f"Restore plan {plan.pk}",
            "opts": self.model._meta,
            "cross_org": cross_org,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/backups/restoreexecution/plan.html", context)

    def _plan_context(self, plan: RestoreExecution) -> dict:
        unfinished = plan.status in UNFINISHED
        context = {
            "restore": plan,
            "unfinished": unfinished,
            "refresh_seconds": self.plan_refresh_seconds if unfinished else None,
            "waited_seconds": _seconds(plan.started_at, timezone.now()),
            "planned_seconds": plan.completed_at and _seconds(plan.started_at, plan.completed_at),
            "point_in_time": plan.strategy == RestoreExecution.Strategy.POINT_IN_TIME,
            "confirmed_as": (plan.report or {}).get("confirmed_as"),
            "strategies": [
                choice
                for choice in RestoreExecution.Strategy.choices
                if choice[0] != RestoreExecution.Strategy.POINT_IN_TIME
            ],
            "policies": CONFLICT_POLICIES,
            "all_tables": [
                (spec.name, spec.model._meta.verbose_name_plural) for spec in table_specs()
            ],
        }
        if plan.status == Status.COMPLETED:
            context.update(restore_plan_context(plan))
        return context

    def _confirm(self, request, plan: RestoreExecution, cross_org: bool):
        if cross_org and request.POST.get("allow_cross_org") != "yes":
            self.message_user(
                request,
                f"Restoring {plan.organization} from outside it must be confirmed explicitly: "
                "tick the cross-organisation box.",
                messages.ERROR,
            )
            return HttpResponseRedirect(plan_url(plan))
        try:
            restore = restore_confirm(plan=plan, actor=request.user, allow_cross_org=cross_org)
        except BackupRefused as exc:
            self.message_user(request, f"Restore refused: {exc.messages[0]}", messages.ERROR)
            return HttpResponseRedirect(plan_url(plan))
        source = (
            f"to {plan.organization.local_time(plan.as_of):%Y-%m-%d %H:%M:%S %Z}"
            if plan.as_of
            else f"from backup {plan.backup_id}"
        )
        self.message_user(
            request,
            f"Restore of {plan.organization} {source} started; this page refreshes until it "
            "has finished.",
            messages.SUCCESS,
        )
        return change_redirect(restore)


def _seconds(start, end) -> int:
    return max(0, round((end - start).total_seconds()))


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
