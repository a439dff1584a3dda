"""Admin pages of records only the application writes (backup runs, restores, drills, sync
runs): they are listed and opened, never added, edited or deleted by hand."""


class RecordAdminMixin:
    """Put before the ModelAdmin class: `class RunAdmin(RecordAdminMixin, TenantScopedAdmin)`."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
