from __future__ import annotations

from django.contrib import admin

from api_service.workflows.models import Execution, Workflow


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "tenant", "pool", "created_at", "updated_at", "deleted_at")
    list_filter = ("tenant", "pool")
    search_fields = ("name", "id")
    readonly_fields = ("id", "created_at", "updated_at")


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "tenant",
        "workflow",
        "created_at",
        "started_at",
        "completed_at",
        "duration_ms",
    )
    list_filter = ("status", "tenant", "pool")
    search_fields = ("id", "workflow__id", "workflow__name")
    readonly_fields = [f.name for f in Execution._meta.fields]
    list_select_related = ("tenant", "workflow")

    def has_add_permission(self, request) -> bool:
        return False
