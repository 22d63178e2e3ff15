"""The control plane's periodic repair of executions whose worker cannot report any more.

Runs every REAPER_INTERVAL_SECONDS on the control worker:

- past its deadline (and a lease's grace, so the worker may report the timeout itself): FAILED
  ``timeout``, queued or running;
- RUNNING without a heartbeat for longer than a lease (its worker was killed or lost): retried as
  the next attempt (QUEUED again, published once more) while attempts remain, else FAILED
  ``worker_lost``; events of the old attempt are ignored from then on (the attempt is a fencing
  token);
- RUNNING past every time limit: FAILED ``worker_lost`` whatever Redis says.

With Redis unreachable nothing is retried: without heartbeats no death can be told from an outage.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from api_service.webhooks.models import EXECUTION_FAILED
from api_service.webhooks.services import deliveries_record
from api_service.workflows import dispatch
from api_service.workflows.models import ACTIVE_STATUSES, Execution, ExecutionStatus

log = logging.getLogger(__name__)
BATCH = 500
WORKER_LOST = {"type": "worker_lost", "message": "The worker stopped reporting on this execution."}
ATTEMPTS_SPENT = {
    "type": "worker_lost",
    "message": "The worker running this execution was lost on every attempt; it is not retried again.",
}
DEADLINE = {"type": "timeout", "message": "The execution ran past its deadline."}


def executions_reap() -> dict[str, int]:
    timing = settings.FLEET_TIMING
    return {
        "timedOut": _fail_past_deadline(grace=timing.lease_seconds),
        "stale": executions_fail_stale(),
        **_retry_silent(lease=timing.lease_seconds),
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
        return {"retried": 0, "lost": 0}
    now = time.time()
    silent_since = dispatch.silence_mark(execution_ids=[i for i, *_ in running if not alive[i]], now=now)
    if silent_since is None:
        return {"retried": 0, "lost": 0}
    retried = lost = 0
    for execution_id, attempt, max_attempts in running:
        since = silent_since.get(execution_id)
        if since is None or now - since < lease:
            continue
        if attempt >= max_attempts:
            lost += execution_fail(
                execution_id=execution_id, error=ATTEMPTS_SPENT, statuses=frozenset({ExecutionStatus.RUNNING})
            )
        else:
            retried += execution_retry(execution_id=execution_id, attempt=attempt)
    return {"retried": retried, "lost": lost}


def execution_retry(*, execution_id: str, attempt: int) -> bool:
    """Queue the next attempt of a run whose worker was lost (only if `attempt` is still current)."""
    with transaction.atomic():
        changed = Execution.objects.filter(
            pk=execution_id, status=ExecutionStatus.RUNNING, attempt=attempt
        ).update(status=ExecutionStatus.QUEUED, attempt=F("attempt") + 1, published_at=None, worker="")
        if changed:
            log.warning("execution %s lost its worker on attempt %s; retrying", execution_id, attempt)
            transaction.on_commit(lambda: dispatch.execution_publish(execution_id=execution_id))
    return bool(changed)
