from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api_service.workflows import services
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
        "llm_tokens",
    )
    list_filter = ("status", "tenant", "workflow", "pool")
    search_fields = ("id", "workflow__id", "workflow__name")
    readonly_fields = [f.name for f in Execution._meta.fields]
    list_select_related = ("tenant", "workflow")
    date_hierarchy = "created_at"
    actions = ("cancel", "rerun")

    @admin.action(description="Cancel selected executions (queued or running)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        cancelled = sum(services.execution_cancel(execution=e) for e in queryset)
        messages.success(request, f"Cancelled {cancelled} execution(s).")

    @admin.action(description="Rerun selected executions (same resolved graph, no quota taken)")
    def rerun(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        new_ids = [services.execution_rerun(execution=e).id for e in queryset]
        messages.success(request, f"Queued {len(new_ids)} rerun(s): {', '.join(new_ids)}")

    @admin.display(description="LLM tokens")
    def llm_tokens(self, obj: Execution) -> int | None:
        return (obj.usage or {}).get("llm", {}).get("totalTokens")

    def has_add_permission(self, request) -> bool:
        return False
