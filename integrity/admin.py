from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from organizations.models import Organization
from organizations.tenancy import TenantScopedAdmin, scope_of
from properties.admin import register_changelist_extension
from properties.models import Property, PropertyAnalysis

from .admin_filters import CHANGELIST_EXTENSION
from .charts import line_chart, trend_window
from .checks import CHECKS, COMPLETENESS_FIELDS
from .models import DataIntegrityReport, IntegrityAlert
from .selectors import TREND_DAYS, check_rows, completeness_rows, report_get, report_trend
from .services.reports import RUN_PERMISSION
from .tasks import enqueue_integrity_check

# The integrity check filter joins the property changelists from here: properties imports
# nothing of integrity.
register_changelist_extension(Property, CHANGELIST_EXTENSION)
register_changelist_extension(PropertyAnalysis, CHANGELIST_EXTENSION)


def _coloured(count: int, colour: str):
    if not count:
        return format_html('<span style="color:{}">0</span>', "#2e7d32")
    return format_html('<strong style="color:{}">{}</strong>', colour, f"{count:,}")


class _WrittenByTheChecksAdmin(TenantScopedAdmin):
    """Reports and alerts are written by the checks only: the admin reads them (and runs new
    checks); only a superuser deletes them."""

    columns_for_all_organizations = ("organization",)
    list_select_related = ("organization",)
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return scope_of(request).sees_all


@admin.register(DataIntegrityReport)
class DataIntegrityReportAdmin(_WrittenByTheChecksAdmin):
    list_display = (
        "report_link",
        "organization",
        "errors",
        "warnings",
        "total_issues",
        "property_count",
        "duration_ms",
        "trigger",
    )
    list_filter = ("trigger",)
    date_hierarchy = "created_at"
    actions = ["run_checks_now"]
    change_list_template = "admin/integrity/dataintegrityreport/change_list.html"

    def get_list_filter(self, request):
        if scope_of(request).sees_all:
            return ("organization", *self.list_filter)
        return self.list_filter

    @admin.display(description="report", ordering="created_at")
    def report_link(self, obj):
        created = obj.organization.local_time(obj.created_at)
        return format_html("#{} · {}", obj.pk, created.strftime("%Y-%m-%d %H:%M %Z"))

    @admin.display(description="errors")
    def errors(self, obj):
        return _coloured(obj.error_count, "#c62828")

    @admin.display(description="warnings")
    def warnings(self, obj):
        return _coloured(obj.warning_count, "#ef6c00")

    @admin.display(description="properties")
    def property_count(self, obj):
        return f"{(obj.metrics or {}).get('property_count', 0):,}"

    def has_run_permission(self, request):
        return scope_of(request).can(RUN_PERMISSION)

    def _organizations_to_run(self, request, queryset=None):
        """A member's own organisation; for a superuser the selected reports' organisations
        (or every organisation from the button)."""
        scope = scope_of(request)
        if queryset is not None and scope.sees_all:
            return list(Organization.objects.filter(integrity_reports__in=queryset).distinct())
        return list(scope.organizations())

    def _run(self, request, organizations):
        # A large organisation's checks take seconds, so they run as a django-q2 task rather
        # than inside the request.
        for organization in organizations:
            enqueue_integrity_check(
                organization=organization,
                actor=request.user,
                trigger=DataIntegrityReport.Trigger.ADMIN,
            )
        if organizations:
            self.message_user(
                request,
                "Checks started for {}; the report appears in this list when they finish.".format(
                    ", ".join(organization.name for organization in organizations)
                ),
                messages.SUCCESS,
            )

    @admin.action(description="Run checks now", permissions=["run"])
    def run_checks_now(self, request, queryset):
        self._run(request, self._organizations_to_run(request, queryset))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "run/",
                self.admin_site.admin_view(self.run_view),
                name=f"{info[0]}_{info[1]}_run",
            ),
            *super().get_urls(),
        ]

    def run_view(self, request):
        """The changelist's "Run checks now" button: works before any report exists."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_run_permission(request):
            raise PermissionDenied
        self._run(request, self._organizations_to_run(request))
        return HttpResponseRedirect(reverse("admin:integrity_dataintegrityreport_changelist"))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run": self.has_run_permission(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        try:
            report = report_get(user=request.user, report_id=int(object_id))
        except (DataIntegrityReport.DoesNotExist, ValueError):
            report = None
        if report is None or not self.has_view_permission(request, report):
            self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        zone = report.organization.zone
        start, end = trend_window(timezone.now(), TREND_DAYS)
        trend = report_trend(organization=report.organization, until=end)
        count_charts = [
            line_chart(
                [(check.title, [(p["created_at"], p["counts"].get(check.slug)) for p in trend])],
                start=start,
                end=end,
                title=f"{check.title} ({check.severity.lower()})",
                width=360,
                height=150,
                zone=zone,
            )
            for check in CHECKS
        ]
        completeness_chart = line_chart(
            [
                (
                    field.replace("_", " "),
                    [(p["created_at"], p["completeness"].get(field)) for p in trend],
                )
                for field in COMPLETENESS_FIELDS
            ],
            start=start,
            end=end,
            title="Completeness of the main fields",
            percent=True,
            width=740,
            height=200,
            zone=zone,
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(report),
            "subtitle": report.organization.name,
            "report": report,
            "checks": check_rows(report),
            "completeness": completeness_rows(report),
            "count_charts": count_charts,
            "completeness_chart": completeness_chart,
            "trend_points": len(trend),
            "has_view_permission": True,
            "can_run": self.has_run_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/integrity/dataintegrityreport/report.html", context)


@admin.register(IntegrityAlert)
class IntegrityAlertAdmin(_WrittenByTheChecksAdmin):
    list_display = (
        "created_at",
        "organization",
        "kind",
        "subject",
        "state",
        "recipient_count",
        "webhook_status",
        "cleared_at",
    )
    list_filter = ("kind",)
    search_fields = ("subject", "condition")
    readonly_fields = (
        "organization",
        "kind",
        "condition",
        "subject",
        "message",
        "payload",
        "report",
        "email_recipients",
        "webhook_url",
        "webhook_status",
        "delivered_at",
        "created_at",
        "cleared_at",
    )

    @admin.display(description="state")
    def state(self, obj):
        if obj.is_open:
            return format_html('<strong style="color:#c62828">{}</strong>', "open")
        return "cleared"

    @admin.display(description="e-mailed")
    def recipient_count(self, obj):
        return len(obj.email_recipients or [])
