"""A tenant's effective limits: its plan, with the tenant's own overrides on top."""

from __future__ import annotations

from dataclasses import dataclass

from api_service.accounts.models import Tenant


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int
    executions_per_day: int | None  # None: unlimited
    max_concurrent_executions: int | None


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
    )
