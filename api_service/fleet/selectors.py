"""Reads of the live fleet: the workers' own announcements in Redis (protocol/fleet.py) and the queue."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

from django.conf import settings
from django.db.models import Count

from api_service.core.redis import redis_client
from protocol import fleet

log = logging.getLogger(__name__)


class FleetUnavailable(RuntimeError):
    """Redis did not answer: the fleet cannot be told."""


def fleet_workers() -> list[fleet.WorkerRecord]:
    """Every worker that announced itself within a lease, newest first (dead ones are pruned)."""
    lease = settings.FLEET_TIMING.lease_seconds
    now = time.time()
    try:
        pipe = redis_client().pipeline(transaction=False)  # one round trip: this runs on every dispatch
        pipe.zremrangebyscore(fleet.WORKERS_KEY, "-inf", now - 10 * lease)
        pipe.zrevrangebyscore(fleet.WORKERS_KEY, "+inf", now - lease)
        found = pipe.execute()[1]
        client = redis_client()
        ids = [i.decode() if isinstance(i, bytes) else i for i in found]
        raw = client.mget([fleet.WORKER_KEY.format(worker_id=i) for i in ids]) if ids else []
    except Exception as exc:
        log.warning("fleet unavailable: Redis did not answer")
        raise FleetUnavailable("The fleet's registry (Redis) did not answer.") from exc
    return [json.loads(value) for value in raw if value]


def live_pools(workers: list[fleet.WorkerRecord]) -> Counter[str]:
    """Workers that can take or are running work, per pool."""
    return Counter(w["pool"] for w in workers if w["state"] in fleet.LIVE_STATES)


def pool_capacity(workers: list[fleet.WorkerRecord], pool: str) -> int:
    """Runs the pool can hold at once: its workers that are ready or running one (one each)."""
    return sum(1 for w in workers if w["pool"] == pool and w["state"] in ("ready", "busy"))


def pool_list() -> list[dict[str, Any]]:
    """The tenant view of each pool: workers by state and the queue, no hosts or executions."""
    from api_service.workflows.models import Execution, ExecutionStatus

    try:
        workers: list[fleet.WorkerRecord] | None = fleet_workers()
    except FleetUnavailable:
        workers = None
    queued = dict(
        Execution.objects.filter(status=ExecutionStatus.QUEUED, pool__in=settings.GPU_POOLS)
        .values_list("pool")
        .annotate(n=Count("id"))
        .values_list("pool", "n")
    )
    pools = []
    for name in settings.GPU_POOLS:
        states = Counter(w["state"] for w in workers or [] if w["pool"] == name)
        pools.append(
            {
                "name": name,
                "default": name == settings.GPU_POOL_DEFAULT,
                "workers": None if workers is None else sum(states.values()),
                "readyWorkers": None if workers is None else states["ready"],
                "busyWorkers": None if workers is None else states["busy"],
                "queued": queued.get(name, 0),
            }
        )
    return pools
