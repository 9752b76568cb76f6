from django.contrib import admin

from .models import ReportRun


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    """Read-only: runs are made by the services and a finished one never changes."""

    list_display = ("id", "office", "kind", "start", "as_of", "status", "progress", "requested_at")
    list_filter = ("status", "kind", "office")
    date_hierarchy = "requested_at"
    exclude = ("pdf", "xlsx")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("pdf", "xlsx").select_related("office")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
