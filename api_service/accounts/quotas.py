"""The daily execution quota and the queue-length cap, enforced in PostgreSQL.

Both run inside the transaction that inserts the Execution row: the quota
counter is a single conditional upsert, so under any concurrency no
execution is ever accepted past the quota, and a rolled-back submit gives
its unit back automatically.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db import connection

from api_service.accounts.limits import Limits
from api_service.accounts.models import DailyUsage, Tenant
from api_service.core.errors import ApiError


class QuotaExceeded(ApiError):
    status = 429
    type = "quota_exceeded"


class QueueFull(ApiError):
    status = 429
    type = "queue_full"


def utc_today() -> date:
    return datetime.now(UTC).date()


def seconds_until_utc_midnight() -> int:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return max(1, int((midnight - now).total_seconds()))


def quota_consume(*, tenant: Tenant, limits: Limits) -> int:
    """Take one execution from today's quota; returns today's count. Call inside the submit transaction."""
    limit = limits.executions_per_day
    table = DailyUsage._meta.db_table
    with connection.cursor() as cursor:
        # One statement: insert today's row or increment it, but only while below the limit.
        cursor.execute(
            f"""
            INSERT INTO {table} (tenant_id, date, executions) VALUES (%s, %s, 1)
            ON CONFLICT (tenant_id, date) DO UPDATE SET executions = {table}.executions + 1
            WHERE %s IS NULL OR {table}.executions < %s
            RETURNING executions
            """,
            [tenant.pk, utc_today(), limit, limit],
        )
        row = cursor.fetchone()
    if row is None or (limit is not None and row[0] > limit):
        wait = seconds_until_utc_midnight()
        raise QuotaExceeded(
            f"The daily quota of {limit} executions is used up; it resets at midnight UTC.",
            details={"limit": limit, "resetsInSeconds": wait},
            headers={"Retry-After": str(wait)},
        )
    return row[0]


def queue_check(*, tenant: Tenant, limits: Limits, waiting: int) -> None:
    """The tenant's queue-length cap (the concurrency limit holds runs back in the queue instead)."""
    limit = limits.max_queued_executions
    if limit is not None and waiting >= limit:
        raise QueueFull(
            f"{waiting} executions are waiting to start; your plan queues at most {limit}. "
            "Retry when some have started.",
            details={"limit": limit, "waiting": waiting},
            headers={"Retry-After": "5"},
        )
