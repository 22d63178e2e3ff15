"""A tenant's effective limits: its plan, with the tenant's own overrides on top, under the ceilings."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from api_service.accounts.models import Plan, Tenant
from nodes.cost import CostLimits


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int
    executions_per_day: int | None  # None: unlimited
    max_concurrent_executions: int | None
    max_queued_executions: int | None = None


def tenant_limits(tenant: Tenant) -> Limits:
    plan = tenant.plan
    per_day = plan.executions_per_day
    if tenant.unlimited_executions_override:
        per_day = None
    elif tenant.executions_per_day_override is not None:
        per_day = tenant.executions_per_day_override
    return Limits(
        requests_per_minute=(
            tenant.requests_per_minute_override
            if tenant.requests_per_minute_override is not None
            else plan.requests_per_minute
        ),
        executions_per_day=per_day,
        max_concurrent_executions=(
            tenant.max_concurrent_executions_override
            if tenant.max_concurrent_executions_override is not None
            else plan.max_concurrent_executions
        ),
        max_queued_executions=plan.max_queued_executions,
    )


def plan_cost_limits(plan: Plan) -> CostLimits:
    """What one execution may cost on this plan: the plan's figure, never above the settings' ceiling.

    A figure the plan leaves empty is the ceiling's. Tenants have no overrides of these: a tenant that
    needs more is put on another plan (a custom one, if need be), so every figure stays visible in one row.
    """
    ceilings: dict[str, int] = settings.LIMIT_CEILINGS
    values = {}
    for name, ceiling in ceilings.items():
        planned = getattr(plan, f"max_{name}")
        values[name] = ceiling if planned is None else min(planned, ceiling)
    return CostLimits(**values)


def tenant_cost_limits(tenant: Tenant) -> CostLimits:
    return plan_cost_limits(tenant.plan)
