"""Provenance on the property page: which source records fed the property, from which runs."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from organizations.tenancy import scope_of

from .models import SourceRecord


class SourceRecordInline(admin.TabularInline):
    model = SourceRecord
    verbose_name = "source record"
    verbose_name_plural = "Provenance (open-data sources)"
    fields = ("source", "key", "first_run_link", "changed_run_link", "present", "short_hash")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        queryset = (
            super()
            .get_queryset(request)
            .select_related("source", "first_run", "changed_run", "vanished_run")
        )
        return scope_of(request).filter(queryset)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="first seen")
    def first_run_link(self, record):
        return _run_link(record.first_run)

    @admin.display(description="last changed")
    def changed_run_link(self, record):
        return _run_link(record.changed_run)

    @admin.display(description="in the source")
    def present(self, record):
        if record.vanished_run is None:
            return "yes"
        return format_html("vanished in {}", _run_link(record.vanished_run))

    @admin.display(description="SHA-256")
    def short_hash(self, record):
        return record.sha256[:12]


def _run_link(run):
    if run is None:
        return "—"
    url = reverse("admin:sources_syncrun_change", args=[run.pk])
    return format_html('<a href="{}">sync {}</a> ({})', url, run.pk, run.created_at.date())
