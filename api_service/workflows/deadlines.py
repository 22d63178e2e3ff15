"""How long an execution may take from submission: the plan's deadline, or less if the caller asks."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from api_service.accounts.models import Plan
from api_service.core.errors import ApiError


def plan_deadline_seconds(plan: Plan | None) -> int:
    """The plan's deadline, never past the gpu task's hard time limit (which would stop it anyway)."""
    ceiling = settings.FLEET_TIMING.task_time_limit
    configured = plan.execution_deadline_seconds if plan is not None else None
    return min(configured, ceiling) if configured else ceiling


def execution_deadline_at(*, plan: Plan | None, requested_seconds: int | None) -> datetime:
    allowed = plan_deadline_seconds(plan)
    if requested_seconds is not None and requested_seconds > allowed:
        raise ApiError(
            f"deadlineSeconds may lower this plan's deadline of {allowed} seconds, not raise it "
            f"(got {requested_seconds}).",
            type="invalid_request",
            details={"field": "deadlineSeconds", "value": requested_seconds, "allowed": allowed},
        )
    return timezone.now() + timedelta(seconds=requested_seconds or allowed)
