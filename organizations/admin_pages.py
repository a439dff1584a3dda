"""What admin classes of every app share about their pages: records only the application writes
(backup runs, restores, drills, sync runs), and an admin's own extra pages."""

from django.urls import path


class RecordAdminMixin:
    """Rows written only by services and tasks are listed and opened, never added, edited or
    deleted by hand. Put before the ModelAdmin: `class RunAdmin(RecordAdminMixin, ...)`."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def page_urls(model_admin, *pages) -> list:
    """URL patterns of an admin's own pages, each `(route, view, name)`, behind the admin's
    login and CSRF checks (`admin_view`); put them before the admin's own URLs."""
    return [
        path(route, model_admin.admin_site.admin_view(view), name=name)
        for route, view, name in pages
    ]
