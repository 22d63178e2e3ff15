"""Feeds each pool's Celery queue fairly, as its workers free up, instead of publishing every run.

A QUEUED run waits unpublished in PostgreSQL. Whenever capacity may have freed (a run submitted,
ended, cancelled or handed back; and every reaper pass), `pool_dispatch` publishes as many runs as the
pool has ready or busy workers minus the runs already in flight there, picked in fair-share order:
each tenant's k-th concurrent run before anyone's (k+1)-th, and among equals the tenant served
longest ago first (tenants take turns). A tenant at its plan's concurrency limit is skipped (its runs
stay QUEUED with a queue position rather than being refused). So a tenant with a long backlog delays
another tenant's new run by at most about one run.

One dispatcher per pool at a time (a transaction-scoped advisory lock). When the fleet registry cannot
be read, runs are published as before, without the capacity check (fail open).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from api_service.accounts.models import Plan, Tenant
from api_service.fleet.selectors import FleetUnavailable, fleet_workers, pool_capacity
from api_service.workflows import dispatch
from api_service.workflows.models import ACTIVE_STATUSES, Execution, ExecutionStatus

log = logging.getLogger(__name__)
BATCH = 200  # at most this many runs published by one pass (and when the fleet cannot be read)

# Waiting runs of one pool in fair-share order: a run's rank is its place in its tenant's line plus the
# tenant's runs already in flight; among equals the tenant served longest ago (or never) goes first, so
# tenants take turns; tenants at their concurrency limit are left out.
FAIR_ORDER = """
WITH waiting AS (
    SELECT e.id, e.tenant_id, e.created_at,
           row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.created_at, e.id) AS place
    FROM {execution} e
    WHERE e.pool = %(pool)s AND e.status = 'QUEUED' AND e.published_at IS NULL
), in_flight AS (
    SELECT tenant_id, count(*) AS n FROM {execution}
    WHERE status IN ('QUEUED', 'RUNNING') AND published_at IS NOT NULL
      AND tenant_id IN (SELECT DISTINCT tenant_id FROM waiting)
    GROUP BY tenant_id
), served AS (
    SELECT tenant_id, max(published_at) AS last FROM {execution}
    WHERE pool = %(pool)s AND published_at IS NOT NULL
      AND tenant_id IN (SELECT DISTINCT tenant_id FROM waiting)
    GROUP BY tenant_id
), ranked AS (
    SELECT w.id, w.created_at, w.place, w.place + coalesce(f.n, 0) AS slot, s.last,
           coalesce(t.max_concurrent_executions_override, p.max_concurrent_executions) AS cap
    FROM waiting w
    JOIN {tenant} t ON t.id = w.tenant_id
    JOIN {plan} p ON p.slug = t.plan_id
    LEFT JOIN in_flight f ON f.tenant_id = w.tenant_id
    LEFT JOIN served s ON s.tenant_id = w.tenant_id
)
SELECT id FROM ranked
WHERE cap IS NULL OR slot <= cap
ORDER BY slot, place, last NULLS FIRST, created_at, id
LIMIT %(limit)s
"""


def _fair_order_sql() -> str:
    return FAIR_ORDER.format(
        execution=Execution._meta.db_table, tenant=Tenant._meta.db_table, plan=Plan._meta.db_table
    )


def fair_order(*, pool: str, limit: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(_fair_order_sql(), {"pool": pool, "limit": limit})
        return [row[0] for row in cursor.fetchall()]


def pool_dispatch(*, pool: str) -> int:
    """Publish the runs this pool has room for, fairly; returns how many."""
    try:
        capacity: int | None = pool_capacity(fleet_workers(), pool)
    except FleetUnavailable:
        capacity = None
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"crucible-dispatch:{pool}"])
        if capacity is None:
            room = BATCH
        else:
            in_flight = Execution.objects.filter(
                pool=pool, status__in=ACTIVE_STATUSES, published_at__isnull=False
            ).count()
            room = min(BATCH, capacity - in_flight)
        if room <= 0:
            return 0
        ids = fair_order(pool=pool, limit=room)
        if not ids:
            return 0
        Execution.objects.filter(pk__in=ids, status=ExecutionStatus.QUEUED, published_at__isnull=True).update(
            published_at=timezone.now()
        )
        transaction.on_commit(lambda: _publish_all(ids))
    return len(ids)


def _publish_all(ids: list[str]) -> None:
    for execution_id in ids:
        dispatch.execution_publish(execution_id=execution_id)


def pools_dispatch(*, pools: Iterable[str] | None = None) -> int:
    """Every pool with waiting runs (the reaper's pass, and after a worker joins)."""
    if pools is None:
        waiting = Execution.objects.filter(status=ExecutionStatus.QUEUED, published_at__isnull=True)
        pools = sorted(set(waiting.values_list("pool", flat=True).distinct()))
    total = 0
    for pool in pools:
        try:
            total += pool_dispatch(pool=pool)
        except Exception:
            log.exception("dispatching pool %s failed; the next pass retries", pool)
    return total


def queue_position(*, execution: Execution) -> int | None:
    """1 for the next run this pool will start, 2 after it...; 0 once published (a worker takes it
    next); None when it is not waiting."""
    if execution.status != ExecutionStatus.QUEUED:
        return None
    if execution.published_at is not None:
        return 0
    ids = fair_order(pool=execution.pool, limit=10_000)
    try:
        return ids.index(execution.pk) + 1
    except ValueError:
        return None  # held back: its tenant is at its concurrency limit


def waiting_summary() -> dict[str, int]:
    """Unpublished QUEUED runs per pool (admin and tests)."""
    rows = Execution.objects.filter(status=ExecutionStatus.QUEUED, published_at__isnull=True)
    counts: dict[str, int] = {}
    for pool in rows.values_list("pool", flat=True):
        counts[pool] = counts.get(pool, 0) + 1
    return counts
