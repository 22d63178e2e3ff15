"""The one place that publishes work to the gpu pools, and that touches live progress in Redis."""

from __future__ import annotations

import json
import logging
from typing import Any

from api_service.core.redis import redis_client
from protocol import events, leases
from protocol.messages import (
    CANCEL_KEY,
    CANCEL_TTL_SECONDS,
    EXECUTE_TASK,
    PROGRESS_KEY,
    RunSpec,
    gpu_queue,
    spec_version,
)

log = logging.getLogger(__name__)
SILENT_KEY = "crucible:reaper:silent"  # execution id -> when it was first seen without a heartbeat
EMPTY_POOLS_KEY = "crucible:reaper:empty-pools"  # pool -> when it was first seen without a live worker


def execution_publish(*, execution_id: str) -> bool:
    """Send the run spec to its pool's queue: the caller (the fair dispatcher, the reaper's republish)
    marked the row published when it chose it. A failed send clears the mark, so the next dispatch
    chooses it again; a duplicate send is absorbed by the run's lease and the state machine."""
    from api_service.celery import app
    from api_service.llm_endpoints.services import llm_endpoints_spec
    from api_service.workflows.models import Execution, ExecutionStatus

    try:
        execution = Execution.objects.filter(pk=execution_id, status=ExecutionStatus.QUEUED).first()
        if execution is None:
            return False
        llm_endpoints = (
            llm_endpoints_spec(endpoint_ids=execution.llm_endpoint_ids) if execution.llm_endpoint_ids else {}
        )
        spec = RunSpec(
            execution_id=execution.id,
            attempt=execution.attempt,
            tenant_id=execution.tenant_id,
            graph=execution.graph,
            output_node_ids=execution.output_node_ids,
            storage_prefix=execution.storage_prefix,
            files=execution.files,
            max_attempts=execution.max_attempts,
            deadline_at=execution.deadline_at.timestamp() if execution.deadline_at else None,
            llm_endpoints=llm_endpoints,
            protocol_version=spec_version(llm_endpoints=llm_endpoints),
        )
        app.send_task(
            EXECUTE_TASK,
            args=[spec.to_dict()],
            queue=gpu_queue(execution.pool),
            task_id=f"{execution.id}-{execution.attempt}",
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        )
        event_append(execution_id=execution_id, event_type=events.QUEUED, data={"attempt": execution.attempt})
    except Exception:
        # Runs after the commit: the row exists, so never turn this into an error for the caller.
        log.exception("publishing %s failed; the next dispatch retries", execution_id)
        try:
            Execution.objects.filter(pk=execution_id, status=ExecutionStatus.QUEUED).update(published_at=None)
        except Exception:
            log.exception("could not clear the publish mark of %s; the reaper republishes it", execution_id)
        return False
    return True


def heartbeats_read(*, execution_ids: list[str]) -> dict[str, bool] | None:
    """Which executions' attempts are alive (their lease's heartbeat is fresh); None if Redis is down,
    when nothing can be told and the reaper must not act."""
    if not execution_ids:
        return {}
    try:
        values = redis_client().mget([leases.HEARTBEAT_KEY.format(execution_id=i) for i in execution_ids])
    except Exception:
        log.warning("heartbeats unavailable: Redis did not answer")
        return None
    return {i: value is not None for i, value in zip(execution_ids, values, strict=True)}


def outcomes_read(*, execution_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Terminal events workers kept in Redis for these executions (protocol/leases.py OUTCOME_KEY)."""
    if not execution_ids:
        return {}
    try:
        values = redis_client().mget([leases.OUTCOME_KEY.format(execution_id=i) for i in execution_ids])
    except Exception:
        log.warning("outcomes unavailable: Redis did not answer")
        return {}
    return {i: json.loads(v) for i, v in zip(execution_ids, values, strict=True) if v}


def outcome_read(*, execution_id: str) -> dict[str, Any] | None:
    """The terminal event a worker kept for this execution, or None (none yet, or Redis is down)."""
    return outcomes_read(execution_ids=[execution_id]).get(execution_id)


def first_seen(*, key: str, members: list[str], now: float) -> dict[str, float] | None:
    """When each member was first seen in a condition (kept across reaper passes in a Redis hash at
    `key`, so one late beat never looks like a death); members no longer in it are dropped. None if
    Redis is down."""
    try:
        client = redis_client()
        pipe = client.pipeline()
        for member in members:
            pipe.hsetnx(key, member, str(now))
        pipe.hgetall(key)
        seen = pipe.execute()[-1]
    except Exception:
        log.warning("could not record %s: Redis did not answer", key)
        return None
    first = {k.decode() if isinstance(k, bytes) else k: float(v) for k, v in seen.items()}
    gone = [k for k in first if k not in members]
    if gone:
        try:
            client.hdel(key, *gone)
        except Exception:
            log.warning("could not clear %s", key)
    return {k: v for k, v in first.items() if k in members}


def event_append(*, execution_id: str, event_type: str, data: dict[str, Any] | None = None) -> None:
    """Add a state change to the execution's event log (SSE). Best effort: a Redis blip loses the
    entry, and the stream reader falls back to the row for the terminal event."""
    key = events.EVENTS_KEY.format(execution_id=execution_id)
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.xadd(key, {"type": event_type, "data": json.dumps(data or {})}, maxlen=events.EVENTS_MAX_LEN)
        pipe.expire(key, events.EVENTS_TTL_SECONDS)
        pipe.execute()
    except Exception:
        log.warning("could not log %s of %s: Redis did not answer", event_type, execution_id)


def progress_read(*, execution_id: str) -> dict[str, Any] | None:
    try:
        raw = redis_client().get(PROGRESS_KEY.format(execution_id=execution_id))
    except Exception:
        log.warning("progress for %s unavailable: Redis did not answer", execution_id)
        return None
    return json.loads(raw) if raw else None


def progress_clear(*, execution_id: str) -> None:
    try:
        redis_client().delete(PROGRESS_KEY.format(execution_id=execution_id))
    except Exception:
        log.warning("could not clear progress of %s", execution_id)


def cancel_signal(*, execution_id: str) -> None:
    """Tell the gpu workers to stop the execution (a flag they read between steps and nodes).

    Best effort: with Redis down the worker finishes the run, and the state machine drops its
    events because the row is CANCELLED already.
    """
    try:
        redis_client().set(CANCEL_KEY.format(execution_id=execution_id), "1", ex=CANCEL_TTL_SECONDS)
    except Exception:
        log.warning("could not signal the cancellation of %s to the workers", execution_id)
