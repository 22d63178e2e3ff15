"""The control plane's periodic repair of executions whose worker cannot report any more.

Runs every REAPER_INTERVAL_SECONDS on the control worker:

- past its deadline (and a lease's grace, so the worker may report the timeout itself): FAILED
  ``timeout``, queued or running;
- RUNNING without a heartbeat for longer than a lease (its worker was killed or lost): retried as
  the next attempt (QUEUED again, published once more) while attempts remain, else FAILED
  ``worker_lost``; events of the old attempt are ignored from then on (the attempt is a fencing
  token);
- RUNNING past every time limit: FAILED ``worker_lost`` whatever Redis says;
- QUEUED on a pool that has had no live worker for NO_WORKER_FAIL_AFTER_SECONDS: FAILED ``no_worker``.

With Redis unreachable nothing is retried: without heartbeats no death can be told from an outage.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api_service.fleet.selectors import FleetUnavailable, fleet_workers, live_pools
from api_service.webhooks.models import EXECUTION_FAILED
from api_service.webhooks.services import deliveries_record
from api_service.workflows import dispatch, fair_dispatch, services
from api_service.workflows.models import ACTIVE_STATUSES, Execution, ExecutionStatus
from api_service.workflows.services import execution_requeue
from protocol import events

log = logging.getLogger(__name__)
BATCH = 500
WORKER_LOST = {"type": "worker_lost", "message": "The worker stopped reporting on this execution."}
ATTEMPTS_SPENT = {
    "type": "worker_lost",
    "message": "The worker running this execution was lost on every attempt; it is not retried again.",
}
DEADLINE = {"type": "timeout", "message": "The execution ran past its deadline."}
QUEUED_ONLY = frozenset({ExecutionStatus.QUEUED})


def executions_reap() -> dict[str, int]:
    timing = settings.FLEET_TIMING
    return {
        "timedOut": _fail_past_deadline(grace=timing.lease_seconds),
        "stale": executions_fail_stale(),
        **_retry_silent(lease=timing.lease_seconds),
        "noWorker": _fail_without_workers(after=settings.NO_WORKER_FAIL_AFTER_SECONDS),
        "recoveredQueued": _apply_recorded_outcomes(after=timing.lease_seconds),
        "republished": _republish_unclaimed(after=max(60, 4 * timing.lease_seconds)),
        "dispatched": fair_dispatch.pools_dispatch(),
    }


def execution_fail(
    *, execution_id: str, error: dict[str, str], statuses: frozenset[str] = ACTIVE_STATUSES
) -> bool:
    """FAILED with `error` if still in `statuses`; records its failure webhooks in the same commit."""
    with transaction.atomic():
        changed = Execution.objects.filter(pk=execution_id, status__in=statuses).update(
            status=ExecutionStatus.FAILED, completed_at=timezone.now(), error=error
        )
        if changed:
            deliveries_record(execution_id=execution_id, event_type=EXECUTION_FAILED)
    if changed:
        dispatch.progress_clear(execution_id=execution_id)
        dispatch.event_append(execution_id=execution_id, event_type=events.FAILED)
    return bool(changed)


def _fail_past_deadline(*, grace: int) -> int:
    cutoff = timezone.now() - timedelta(seconds=grace)
    rows = Execution.objects.filter(status__in=ACTIVE_STATUSES, deadline_at__lt=cutoff)
    ids = list(rows.values_list("id", flat=True)[:BATCH])
    return sum(execution_fail(execution_id=i, error=DEADLINE) for i in ids)


def executions_fail_stale(*, older_than_seconds: int | None = None) -> int:
    """Fail RUNNING executions past every time limit (the worker is gone, whatever Redis says)."""
    age = older_than_seconds if older_than_seconds is not None else settings.EXECUTION_STALE_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=age)
    rows = Execution.objects.filter(status=ExecutionStatus.RUNNING, started_at__lte=cutoff)
    ids = list(rows.values_list("id", flat=True)[:BATCH])
    running = frozenset({ExecutionStatus.RUNNING})
    return sum(execution_fail(execution_id=i, error=WORKER_LOST, statuses=running) for i in ids)


def _retry_silent(*, lease: int) -> dict[str, int]:
    started_before = timezone.now() - timedelta(seconds=lease)
    running = list(
        Execution.objects.filter(status=ExecutionStatus.RUNNING, started_at__lte=started_before).values_list(
            "id", "attempt", "max_attempts"
        )[:BATCH]
    )
    alive = dispatch.heartbeats_read(execution_ids=[row[0] for row in running])
    if alive is None:
        return {"retried": 0, "lost": 0, "recovered": 0}
    now = time.time()
    silent = [i for i, *_ in running if not alive[i]]
    silent_since = dispatch.first_seen(key=dispatch.SILENT_KEY, members=silent, now=now)
    if silent_since is None:
        return {"retried": 0, "lost": 0, "recovered": 0}
    retried = lost = recovered = 0
    due = [row for row in running if row[0] in silent_since and now - silent_since[row[0]] >= lease]
    outcomes = dispatch.outcomes_read(execution_ids=[row[0] for row in due])
    for execution_id, attempt, max_attempts in due:
        outcome = outcomes.get(execution_id)
        if outcome is not None and services.execution_apply_event(event=outcome):
            # The worker finished; only the message carrying its result was lost.
            recovered += 1
            continue
        if attempt >= max_attempts:
            lost += execution_fail(
                execution_id=execution_id, error=ATTEMPTS_SPENT, statuses=frozenset({ExecutionStatus.RUNNING})
            )
        else:
            retried += execution_requeue(
                execution_id=execution_id, attempt=attempt, reason="lost its worker", counts=True
            )
    return {"retried": retried, "lost": lost, "recovered": recovered}


def _fail_without_workers(*, after: int) -> int:
    """QUEUED runs of a pool that has had no live worker for `after` seconds fail as no_worker (those
    queued since then too: nobody will take them)."""
    pools = list(
        Execution.objects.filter(status=ExecutionStatus.QUEUED).values_list("pool", flat=True).distinct()
    )
    try:
        live = live_pools(fleet_workers())
    except FleetUnavailable:
        return 0
    now = time.time()
    empty_since = dispatch.first_seen(
        key=dispatch.EMPTY_POOLS_KEY, members=[p for p in pools if live[p] == 0], now=now
    )
    failed = 0
    for pool, since in (empty_since or {}).items():
        if now - since < after:
            continue
        error = {
            "type": "no_worker",
            "message": f"No worker of pool {pool!r} was running for {after} seconds; start one "
            f"(python -m gpu_worker.launcher --pool {pool}) and submit again.",
        }
        rows = Execution.objects.filter(status=ExecutionStatus.QUEUED, pool=pool)
        for execution_id in list(rows.values_list("id", flat=True)[:BATCH]):
            failed += execution_fail(execution_id=execution_id, error=error, statuses=QUEUED_ONLY)
    return failed


def _apply_recorded_outcomes(*, after: int) -> int:
    """A published run still QUEUED whose worker recorded an outcome: both its events were lost (a
    control worker killed with them prefetched). Apply the outcome; a copy published again would
    only find the run finished and exit, and the row would wait for its deadline."""
    cutoff = timezone.now() - timedelta(seconds=after)
    rows = Execution.objects.filter(status=ExecutionStatus.QUEUED, published_at__lt=cutoff)
    oldest = rows.order_by("published_at").values_list("id", flat=True)[:BATCH]
    outcomes = dispatch.outcomes_read(execution_ids=list(oldest))
    return sum(services.execution_apply_event(event=outcome) for outcome in outcomes.values())


def _republish_unclaimed(*, after: int) -> int:
    """Published runs no worker started within `after` seconds (a lost message, a worker gone before it
    took the run) are published again; a copy that is still somewhere exits on its lease."""
    cutoff = timezone.now() - timedelta(seconds=after)
    rows = Execution.objects.filter(status=ExecutionStatus.QUEUED, published_at__lt=cutoff)
    ids = list(rows.order_by("published_at").values_list("id", flat=True)[:BATCH])
    # Marked again first, so the next pass waits another `after` before sending yet another copy.
    Execution.objects.filter(pk__in=ids, status=ExecutionStatus.QUEUED).update(published_at=timezone.now())
    for execution_id in ids:
        log.warning(
            "execution %s was published %s s ago and not started; publishing it again", execution_id, after
        )
        dispatch.execution_publish(execution_id=execution_id)
    return len(ids)
