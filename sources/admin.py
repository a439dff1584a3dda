"""Sources in the admin: the list and form (organisation admins), "Sync now" and "Confirm and
resume" actions, run pages with progress and counts, and the rejected records as CSV."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from organizations.admin_pages import RecordAdminMixin, page_urls
from organizations.tenancy import TenantScopedAdmin, scope_of
from properties.admin import ChangeFormSection, register_change_form_section
from properties.models import Property

from .admin_provenance import provenance_html
from .models import DataSource, SyncRun
from .selectors import run_get
from .services import run_rejected_csv, source_clean, source_confirm, source_save, source_sync_start

#: What a sync run counts, on its list and its page.
RUN_COUNTS = ("fetched", "created", "updated", "unchanged", "rejected", "warned")


class DataSourceForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text=DataSource._meta.get_field("url").help_text,
    )

    class Meta:
        model = DataSource
        fields = (
            "project",
            "name",
            "kind",
            "active",
            "url",
            "resource_id",
            "api_token_env",
            "column_overrides",
            "schedule_cron",
            "on_vanish",
        )

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            source_clean(self.instance)
        except ValidationError as error:
            self._update_errors(error)


def property_provenance(prop):
    return provenance_html(prop)


property_provenance.short_description = "provenance (open-data sources)"
register_change_form_section(
    Property, ChangeFormSection(title="Provenance", field=property_provenance)
)


@admin.register(DataSource)
class DataSourceAdmin(TenantScopedAdmin):
    form = DataSourceForm
    list_display = ("name", "kind", "project", "active", "paused", "schedule_cron", "last_run")
    list_filter = ("kind", "active", "paused")
    list_select_related = ("project",)
    search_fields = ("name", "url", "resource_id")
    readonly_fields = ("paused", "pause_message", "state", "created_by", "created_at")
    fieldsets = (
        (None, {"fields": ("project", "name", "kind", "active")}),
        ("Where", {"fields": ("url", "resource_id", "api_token_env")}),
        ("How", {"fields": ("column_overrides", "schedule_cron", "on_vanish")}),
        ("State", {"fields": ("paused", "pause_message", "state", "created_by", "created_at")}),
    )
    actions = ("sync_now", "confirm_and_resume")

    @admin.display(description="last run")
    def last_run(self, source):
        run = source.runs.order_by("-id").first()
        if run is None:
            return "—"
        url = reverse("admin:sources_syncrun_change", args=[run.pk])
        return format_html('<a href="{}">{}</a>', url, run.get_status_display())

    def save_model(self, request, obj, form, change):
        source_save(source=obj, actor=request.user)

    def delete_model(self, request, obj):
        from .services import source_schedule_sync

        source_schedule_sync(source=obj, deleted=True)
        super().delete_model(request, obj)

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset):
        for source in queryset:
            source_sync_start(source=source, actor=request.user)
        self.message_user(request, f"Queued a sync of {queryset.count()} source(s).")

    @admin.action(
        description="Confirm the new mapping / allow the vanish, and resume", permissions=["change"]
    )
    def confirm_and_resume(self, request, queryset):
        for source in queryset:
            try:
                source_confirm(source=source, actor=request.user)
            except ValidationError as error:
                self.message_user(
                    request, f"{source}: {' '.join(error.messages)}", messages.WARNING
                )
            else:
                self.message_user(request, f"{source}: confirmed; the next run proceeds.")


@admin.register(SyncRun)
class SyncRunAdmin(RecordAdminMixin, TenantScopedAdmin):
    list_display = (
        "__str__",
        "status",
        "trigger",
        "progress",
        *RUN_COUNTS,
        "vanished",
        "created_at",
    )
    list_filter = ("status", "trigger")
    list_select_related = ("source",)
    fields = (
        "source",
        "status",
        "trigger",
        "dry_run",
        "full",
        "progress",
        *RUN_COUNTS,
        "vanished",
        "requests",
        "bytes_received",
        "duration_seconds",
        "expected",
        "error",
        "rejected_link",
        "details",
        "cursor",
        "pass_id",
        "actor",
        "created_at",
        "started_at",
        "progress_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(description="progress")
    def progress(self, run):
        return format_html(
            '<progress value="{}" max="100"></progress> {}%',
            run.progress_percent,
            run.progress_percent,
        )

    @admin.display(description="rejected and warned records")
    def rejected_link(self, run):
        if not run.rejected and not run.warned:
            return "—"
        parts = []
        if run.rejected:
            parts.append(f"the {run.rejected} rejected records")
        if run.warned:
            parts.append(f"the {run.warned} records kept with warnings")
        url = reverse("admin:sources_syncrun_rejected", args=[run.pk])
        return format_html('<a href="{}">Download {} (CSV)</a>', url, " and ".join(parts))

    def get_urls(self):
        return [
            *page_urls(
                self, ("<int:run_id>/rejected.csv", self.rejected_view, "sources_syncrun_rejected")
            ),
            *super().get_urls(),
        ]

    def rejected_view(self, request, run_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            run = run_get(actor=scope_of(request), pk=run_id)
        except SyncRun.DoesNotExist:
            from django.http import Http404

            raise Http404(f"No sync run with id {run_id}.") from None
        response = HttpResponse(run_rejected_csv(run=run), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="sync-{run.pk}-rejected.csv"'
        return response
