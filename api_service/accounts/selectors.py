"""Reads for accounts: a tenant's usage against its limits."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from api_service.accounts.limits import tenant_limits
from api_service.accounts.models import DailyUsage, Tenant
from api_service.accounts.quotas import seconds_until_utc_midnight, utc_today


def usage_summary(*, tenant: Tenant, only: list[str] | None = None) -> dict[str, Any]:
    """The tenant's counts against its limits; `only`: the per-workflow rows a restricted key may see."""
    from api_service.workflows.models import ACTIVE_STATUSES, Execution

    today = utc_today()
    month_start = today.replace(day=1)
    limits = tenant_limits(tenant)
    counted = DailyUsage.objects.filter(tenant=tenant, date__gte=month_start)
    today_count = next((u.executions for u in counted if u.date == today), 0)
    month_count = sum(u.executions for u in counted)
    executions = Execution.objects.filter(tenant=tenant, created_at__date__gte=month_start)
    if only is not None:
        executions = executions.filter(workflow_id__in=only)
    per_workflow = (
        executions.values("workflow_id", "workflow__name")
        .annotate(month=Count("id"), today=Count("id", filter=Q(created_at__date=today)))
        .order_by("-month", "workflow_id")
    )
    per_day = limits.executions_per_day
    return {
        "plan": {"id": tenant.plan_id, "name": tenant.plan.name},
        "date": today.isoformat(),
        "executions": {
            "today": today_count,
            "month": month_count,
            "dailyLimit": per_day,
            "remainingToday": None if per_day is None else max(0, per_day - today_count),
            "resetsInSeconds": seconds_until_utc_midnight(),
        },
        "concurrency": {
            "active": Execution.objects.filter(tenant=tenant, status__in=ACTIVE_STATUSES).count(),
            "limit": limits.max_concurrent_executions,
        },
        "rateLimit": {"requestsPerMinute": limits.requests_per_minute},
        "workflows": [
            {
                "workflowId": row["workflow_id"],
                "name": row["workflow__name"],
                "today": row["today"],
                "month": row["month"],
            }
            for row in per_workflow
        ],
    }
