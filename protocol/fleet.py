"""The live fleet in Redis: every gpu worker process announces itself with a heartbeat.

`WORKERS_KEY` is a sorted set of worker ids scored by when each last announced; `WORKER_KEY` holds
that worker's record (JSON, expiring after a lease) with the fields of `WorkerRecord`. A worker that
stops announcing drops out of every reader after a lease. Readers: GET /v1/pools (tenant view:
pools, ready workers, queue depth; no host names), the admin fleet page (everything), the reaper
(which pools have a live worker).
"""

from __future__ import annotations

from typing import Literal, TypedDict

WORKERS_KEY = "crucible:fleet:workers"
WORKER_KEY = "crucible:fleet:worker:{worker_id}"

# starting: loading; warming: running the pool's warm-up workflow; ready: idle; busy: running one;
# draining: stopping after SIGTERM (takes no new work).
WorkerState = Literal["starting", "warming", "ready", "busy", "draining"]
LIVE_STATES = ("warming", "ready", "busy")


class WorkerRecord(TypedDict):
    id: str
    host: str
    pid: int
    pool: str
    state: WorkerState
    protocolVersion: int
    device: str
    gpuIndex: str | None
    gpuName: str | None
    gpuMemoryBytes: int | None
    execution: str | None  # the execution it is running, if any
    modelCache: dict[str, int]  # entries, usedBytes, budgetBytes, loads, hits, evictions
    warmupError: str | None  # the pool's warm-up workflow failed with this (the worker runs anyway)
    startedAt: float
    seenAt: float
