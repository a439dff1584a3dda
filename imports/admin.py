import csv
import io
from functools import partial
from itertools import islice

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    JsonResponse,
)
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from organizations.admin_pages import RecordAdminMixin, change_redirect, page_urls
from organizations.tenancy import TenantScopedAdmin, scope_of
from properties.admin import TenantProjectFilter, register_changelist_extension
from properties.models import Property

from .admin_import import PROPERTY_IMPORT
from .admin_summary import column_rows, job_summary_table
from .models import ImportJob
from .selectors import import_job_get, import_progress
from .services.jobs import (
    DEFAULT_BATCH_SIZE,
    IMPORT_PERMISSION,
    import_cancel,
    import_resume,
    import_run,
)

REJECTED_PER_PAGE = 50

# The Import button and upload page of the Property changelist.
register_changelist_extension(Property, PROPERTY_IMPORT)


@admin.register(ImportJob)
class ImportJobAdmin(RecordAdminMixin, TenantScopedAdmin):
    """Import jobs, read-only: they are created by an upload and changed only by the pipeline."""

    list_display = (
        "id",
        "file_name",
        "project",
        "kind",
        "status",
        "rows",
        "created_count",
        "updated_count",
        "skipped_count",
        "rejected_count",
        "warned_count",
        "user",
        "created_at",
    )
    list_filter = ("status", TenantProjectFilter)
    list_select_related = ("project", "user")
    search_fields = ("file_name", "sha256")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("project", "user", "status", "error_summary", "links")}),
        ("Summary", {"fields": ("summary",)}),
        (
            "File",
            {"fields": ("file_name", "file_format", "file_size", "sha256", "settings_display")},
        ),
        ("Timing", {"fields": ("created_at", "started_at", "finished_at", "rate")}),
    )
    readonly_fields = ("links", "summary", "file_size", "settings_display", "rate")
    change_form_template = "admin/imports/importjob/change_form.html"
    actions = ["cancel_imports", "resume_imports"]

    def has_import_permission(self, request, obj=None):
        # Cancel and resume act on imports: the same permission as starting one.
        return self._can_import(request)

    @admin.action(description="Cancel the selected imports", permissions=["import"])
    def cancel_imports(self, request, queryset):
        self._act(request, queryset, import_cancel, "cancelled")

    @admin.action(
        description="Resume the selected interrupted imports (after the last committed batch)",
        permissions=["import"],
    )
    def resume_imports(self, request, queryset):
        self._act(request, queryset, partial(import_resume, background=True), "resumed")

    def _act(self, request, queryset, service, verb):
        done = []
        for job in queryset.select_related("project"):
            try:
                service(job=job, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                done.append(str(job.pk))
        if done:
            self.message_user(request, f"Import {', '.join(done)} {verb}.", messages.SUCCESS)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_queryset(request).filter(pk=object_id).first()
        extra_context = {
            **(extra_context or {}),
            "progress": import_progress(job=job) if job and not job.is_preview else None,
            "can_import": self._can_import(request),
            # A job is written by the pipeline only: the admin's change log has nothing.
            "show_history_link": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="reports")
    def links(self, job):
        parts = []
        if job.status == ImportJob.Status.PENDING or job.preview:
            url = reverse("admin:imports_importjob_preview", args=[job.pk])
            parts.append(format_html('<a href="{}" id="import-preview-link">Preview</a>', url))
        if job.rejected_file:
            url = reverse("admin:imports_importjob_rejected", args=[job.pk])
            label = (
                "Download the rejected rows, with their errors (CSV)"
                if job.rejected_count or (job.preview or {}).get("totals", {}).get("reject")
                else "Download the rows kept with warnings (CSV)"
            )
            parts.append(format_html('<a href="{}" id="import-rejected-link">{}</a>', url, label))
        return format_html(" · ".join(["{}"] * len(parts)), *parts) if parts else "—"

    @admin.display(description="kind")
    def kind(self, job):
        if not job.is_preview:
            return "import"
        return "dry run" if job.started_at else "preview"

    @admin.display(description="rows", ordering="total_rows")
    def rows(self, job):
        # A preview wrote nothing; its row count is what it read.
        if job.is_preview and not job.started_at:
            return f"{int((job.preview or {}).get('totals', {}).get('total') or 0):,}"
        return f"{job.total_rows:,}"

    @admin.display(description="rows")
    def summary(self, job):
        return job_summary_table(job)

    @admin.display(description="size")
    def file_size(self, job):
        return filesizeformat(job.size_bytes)

    @admin.display(description="settings")
    def settings_display(self, job):
        options = job.options or {}
        parts = [
            f"duplicates: {options.get('on_duplicate', 'skip')}",
            f"batches of {int(options.get('batch_size') or DEFAULT_BATCH_SIZE):,} rows",
        ]
        if options.get("dry_run"):
            parts.append("dry run (nothing written)")
        if options.get("background"):
            parts.append("ran in the background")
        return " · ".join(parts)

    @admin.display(description="throughput")
    def rate(self, job):
        if job.is_preview or not job.rows_per_second:
            return "—"
        return f"{job.rows_per_second:,.0f} rows/s"

    def get_urls(self):
        return [
            *page_urls(
                self,
                ("<int:job_id>/preview/", self.preview_view, "imports_importjob_preview"),
                (
                    "<int:job_id>/confirm/",
                    require_POST(self.confirm_view),
                    "imports_importjob_confirm",
                ),
                ("<int:job_id>/progress/", self.progress_view, "imports_importjob_progress"),
                (
                    "<int:job_id>/cancel/",
                    require_POST(self.cancel_view),
                    "imports_importjob_cancel",
                ),
                (
                    "<int:job_id>/resume/",
                    require_POST(self.resume_view),
                    "imports_importjob_resume",
                ),
                ("<int:job_id>/rejected/", self.rejected_view, "imports_importjob_rejected"),
            ),
            *super().get_urls(),
        ]

    def _job(self, request, job_id) -> ImportJob:
        try:
            job = import_job_get(actor=scope_of(request), job_id=job_id)
        except ImportJob.DoesNotExist:
            # Another organisation's job and a missing one answer the same: 404.
            raise Http404(f"No import job with id {job_id}.") from None
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def _job_to_act_on(self, request, job_id) -> ImportJob:
        """The job, for a user who may start, cancel or resume imports."""
        job = self._job(request, job_id)
        if not self._can_import(request):
            raise PermissionDenied
        return job

    @staticmethod
    def _can_import(request) -> bool:
        return scope_of(request).can(IMPORT_PERMISSION)

    def preview_view(self, request, job_id):
        job = self._job(request, job_id)
        preview = job.preview or {}
        paginator = Paginator(range(preview.get("totals", {}).get("reject", 0)), REJECTED_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Preview of import {job.pk}: {job.file_name}",
            "job": job,
            "preview": preview,
            "totals": preview.get("totals", {}),
            "samples": preview.get("samples", {}),
            "columns": preview.get("columns", {}),
            "column_rows": column_rows(preview.get("columns", {})),
            "warning_samples": preview.get("warning_samples", []),
            "details": preview.get("details", {}),
            "page": page,
            "rejected_rows": _rejected_page(job, page) if page.object_list else [],
            "can_confirm": job.status == ImportJob.Status.PENDING
            and self._can_import(request)
            and bool(preview.get("totals")),
            # Once confirmed the job is cancelled from its own page, not as a preview.
            "can_cancel": job.can_cancel and job.started_at is None and self._can_import(request),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/imports/importjob/preview.html", context)

    def confirm_view(self, request, job_id):
        job = self._job_to_act_on(request, job_id)
        try:
            job = import_run(job=job, actor=request.user, background=None)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            if job.options.get("background"):
                self.message_user(
                    request,
                    f"Import {job.pk} ({job.expected_rows:,} rows) runs in the background; this "
                    "page follows its progress.",
                    messages.INFO,
                )
                return change_redirect(job)
            level = {
                ImportJob.Status.COMPLETED: messages.SUCCESS,
                ImportJob.Status.COMPLETED_WITH_ERRORS: messages.WARNING,
            }.get(job.status, messages.ERROR)
            self.message_user(
                request,
                f"Import {job.pk} {job.get_status_display().lower()}: {job.created_count} created, "
                f"{job.updated_count} updated, {job.skipped_count} skipped, "
                f"{job.rejected_count} rejected. {job.error_summary}".strip(),
                level,
            )
        return change_redirect(job)

    def progress_view(self, request, job_id):
        """What the job page polls: counts, percentage, rows/s and ETA, as JSON."""
        return JsonResponse(import_progress(job=self._job(request, job_id)))

    def cancel_view(self, request, job_id):
        return self._post_service(request, job_id, import_cancel)

    def resume_view(self, request, job_id):
        return self._post_service(request, job_id, partial(import_resume, background=True))

    def _post_service(self, request, job_id, service):
        job = self._job_to_act_on(request, job_id)
        try:
            job = service(job=job, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(
                request,
                f"Cancelled import {job.pk}. {job.error_summary}".strip()
                if service is import_cancel
                else f"Resumed import {job.pk}: it continues after row {job.last_committed_row:,}.",
                messages.SUCCESS,
            )
        return change_redirect(job)

    def rejected_view(self, request, job_id):
        job = self._job(request, job_id)
        if not job.rejected_file:
            raise Http404("This import has no rejected rows.")
        stem = job.file_name.rsplit(".", 1)[0] or "import"
        return FileResponse(
            job.rejected_file.open("rb"),
            as_attachment=True,
            filename=f"{stem}-rejected-rows-import-{job.pk}.csv",
            content_type="text/csv",
        )


def _rejected_page(job: ImportJob, page) -> list[dict]:
    """One page of the rejected rows of the report, read from storage (only that page is
    kept); the rows kept with a warning, also in the file, are the preview's warnings."""
    with job.rejected_file.open("rb") as stored:
        text = io.TextIOWrapper(stored, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        headers = next(reader, [])
        start = page.start_index() - 1
        rejected = (values for values in reader if values[-2])
        rows = []
        for values in islice(rejected, start, start + REJECTED_PER_PAGE):
            cells = dict(zip(headers[:-3], values[:-3], strict=False))
            rows.append(
                {
                    "row": values[-3],
                    "errors": values[-2].split("; "),
                    "warnings": values[-1].split("; ") if values[-1] else [],
                    "values": ", ".join(f"{k}={v}" for k, v in cells.items() if v)[:300],
                }
            )
        return rows
