"""What admin classes of every app share about their pages: records only the application writes
(backup runs, restores, drills, sync runs), rows deleted through their service, an admin's own
extra pages and the redirect back to a row's page."""

from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.http import HttpResponseRedirect
from django.urls import path, reverse


class RecordAdminMixin:
    """Rows written only by services and tasks are listed and opened, never added, edited or
    deleted by hand. Put before the ModelAdmin: `class RunAdmin(RecordAdminMixin, ...)`."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ServiceDeleteMixin:
    """The delete page and the bulk delete action both go through `delete_row(obj, actor=)`,
    one row at a time, so each deletion takes the service's path (history, schedules)."""

    def delete_row(self, obj, *, actor) -> None:
        raise NotImplementedError

    def delete_model(self, request, obj):
        self.delete_row(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_row(obj, actor=request.user)


def page_urls(model_admin, *pages) -> list:
    """URL patterns of an admin's own pages, each `(route, view, name)`, behind the admin's
    login and CSRF checks (`admin_view`); put them before the admin's own URLs."""
    return [
        path(route, model_admin.admin_site.admin_view(view), name=name)
        for route, view, name in pages
    ]


def change_redirect(obj) -> HttpResponseRedirect:
    """Back to `obj`'s page in the admin."""
    return HttpResponseRedirect(reverse(admin_urlname(obj._meta, "change"), args=[obj.pk]))
