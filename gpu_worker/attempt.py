"""One delivery of a run: claim its lease, run it under a heartbeat, settle the lease.

Whatever delivered the run (first publish, broker redelivery after a crash, the reaper's retry), only
one copy runs at a time and each run counts as an attempt; past the execution's attempt limit it
fails as worker_lost instead of running again, so a run that kills its worker cannot loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gpu_worker.execution import EmitEvent, execution_run
from gpu_worker.lease import Claim, Heartbeat, lease_claim, lease_finish
from gpu_worker.runtime import Runtime
from protocol import leases
from protocol.messages import CANCELLED, COMPLETED, FAILED, HANDED_BACK, RunSpec, make_event
from protocol.timing import FleetTiming

log = logging.getLogger(__name__)
WORKER_LOST_ERROR = {
    "type": "worker_lost",
    "message": "The execution stopped its worker on every attempt (killed, out of memory or lost); "
    "it is not retried again.",
}
TERMINAL_EVENTS = (COMPLETED, FAILED, HANDED_BACK)
INTERNAL_ERROR = {"type": "internal_error", "message": "The worker failed; it has been logged."}
TIMEOUT_ERROR = {"type": "timeout", "message": "The execution ran past its time limit."}


def attempt_run(
    *,
    spec: RunSpec,
    runtime: Runtime,
    emit: EmitEvent,
    worker: str,
    timing: FleetTiming,
    hand_back: Callable[[], bool] = lambda: False,
) -> str:
    """Returns what became of this delivery: a terminal event type, "cancelled", "handed_back",
    "busy" or "finished"."""
    emit = recording(runtime.redis, emit)
    claim = lease_claim(runtime.redis, spec, worker=worker, timing=timing)
    if claim.status != leases.RUN:
        # Another copy is running it, or it ended: acknowledge this delivery and do nothing else.
        log.info("execution %s: %s (%s); this delivery exits", spec.execution_id, claim.status, claim.holder)
        return claim.status
    outcome: str | None = None  # stays None if the process is being torn down mid-run (SIGTERM, ...)
    try:
        if claim.spec.attempt > claim.spec.max_attempts:
            log.warning(
                "execution %s reached attempt %s of %s; failing it as worker_lost",
                spec.execution_id,
                claim.spec.attempt,
                claim.spec.max_attempts,
            )
            emit(make_event(FAILED, claim.spec, error=WORKER_LOST_ERROR))
            outcome = FAILED
            return FAILED
        announcer = getattr(runtime, "announcer", None)
        if announcer is not None:
            announcer.set("busy", spec.execution_id)
        try:
            outcome = _run_with_heartbeat(claim, runtime, emit, worker, timing, hand_back)
        finally:
            if announcer is not None:
                announcer.set("draining" if announcer.state == "draining" else "ready")
        return outcome
    finally:
        # Only an attempt that reported an end marks the run finished: one superseded, handed back or
        # torn down with its process (no outcome) leaves the run to the next attempt.
        lease_finish(runtime.redis, claim, done=outcome in (COMPLETED, FAILED, CANCELLED))
        if outcome == HANDED_BACK:
            # Only now that the lease is free: the next attempt, queued on this event, must not find
            # it held (a copy that finds a live lease exits, and the run would wait for the reaper).
            emit(make_event(HANDED_BACK, claim.spec, worker=worker))


def _run_with_heartbeat(
    claim: Claim,
    runtime: Runtime,
    emit: EmitEvent,
    worker: str,
    timing: FleetTiming,
    hand_back: Callable[[], bool],
) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    spec = claim.spec
    with Heartbeat(runtime.redis, claim, timing) as heartbeat:
        try:
            return execution_run(
                spec=spec,
                runtime=runtime,
                emit=emit,
                worker_name=worker,
                superseded=lambda: heartbeat.lost,
                hand_back=hand_back,
            )
        except Exception as exc:
            # Whatever broke outside a node (storage, Redis, a time limit), the row must not stay RUNNING.
            log.exception("execution %s failed outside its nodes", spec.execution_id)
            timed_out = isinstance(exc, SoftTimeLimitExceeded)
            error: dict[str, Any] = TIMEOUT_ERROR if timed_out else INTERNAL_ERROR
            emit(make_event(FAILED, spec, error=error))
            return FAILED


def refuse_protocol(raw: dict[str, Any], message: str, *, emit: EmitEvent) -> str:
    """A spec from a newer api: fail the run with a clear error rather than misreading it."""
    log.error("refusing execution %s: %s", raw.get("executionId"), message)
    emit(
        {
            "type": FAILED,
            "executionId": str(raw.get("executionId") or ""),
            "attempt": raw.get("attempt"),
            "at": datetime.now(UTC).isoformat(),
            "error": {"type": "protocol_mismatch", "message": message},
        }
    )
    return FAILED


def recording(redis: Any, emit: EmitEvent) -> EmitEvent:
    """`emit`, keeping each terminal event in Redis first (protocol/leases.py OUTCOME_KEY)."""

    def record_then_emit(event: dict[str, Any]) -> None:
        if event.get("type") in TERMINAL_EVENTS:
            key = leases.OUTCOME_KEY.format(execution_id=event.get("executionId", ""))
            try:
                redis.set(key, json.dumps(event), ex=leases.OUTCOME_TTL_SECONDS)
            except Exception:
                log.warning("could not keep the outcome of %s in Redis", event.get("executionId"))
        emit(event)

    return record_then_emit
