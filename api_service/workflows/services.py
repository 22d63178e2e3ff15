"""Writes for workflows and executions. Views and tasks only call these."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from api_service.accounts.limits import tenant_limits
from api_service.accounts.models import Tenant
from api_service.accounts.quotas import queue_check, quota_consume
from api_service.core.errors import ApiError, GraphInvalid
from api_service.core.text_safety import reject_unstorable_text
from api_service.http.parsers import exceeds_depth, max_json_depth
from api_service.llm_endpoints.services import llm_endpoint_ids_resolve
from api_service.webhooks.models import (
    EXECUTION_CANCELLED,
    EXECUTION_COMPLETED,
    EXECUTION_FAILED,
    EXECUTION_STARTED,
)
from api_service.webhooks.services import deliveries_record, webhook_url_check
from api_service.workflows import dispatch, fair_dispatch
from api_service.workflows.deadlines import execution_deadline_at
from api_service.workflows.graph_check import (
    LLM_ENDPOINTS,
    graph_issues,
    raise_for_issues,
    referenced_files,
    registry,
)
from api_service.workflows.models import ACTIVE_STATUSES, Execution, ExecutionStatus, Workflow
from api_service.workflows.named_inputs import UnknownNamedInputs, apply_named_inputs, named_input_issues
from nodes.cost import graph_bytes
from nodes.graph import output_node_ids
from protocol import events
from protocol.messages import COMPLETED, FAILED, HANDED_BACK, STARTED

log = logging.getLogger(__name__)
WORKFLOW_NAME_MAX_CHARS = Workflow._meta.get_field("name").max_length or 200


def _check_workflow(*, tenant: Tenant, graph: Any, inputs: Any) -> None:
    reject_unstorable_text(graph, field="graph")
    reject_unstorable_text(inputs, field="inputs")
    stored_text_check(field="inputs", size=graph_bytes(inputs), allowed=settings.WORKFLOW_INPUTS_MAX_BYTES)
    issues, _ = graph_issues(graph, tenant=tenant)
    issues += named_input_issues(graph, inputs, registry())
    raise_for_issues(issues)


def _check_stored_text(*, name: str, description: str) -> None:
    # The same bounds for every plan: they are what keeps a list page of workflows bounded.
    stored_text_check(field="name", size=len(name), allowed=WORKFLOW_NAME_MAX_CHARS, unit="characters")
    stored_text_check(
        field="description",
        size=len(description),
        allowed=settings.WORKFLOW_DESCRIPTION_MAX_CHARS,
        unit="characters",
    )


def stored_text_check(*, field: str, size: int, allowed: int, unit: str = "bytes of JSON") -> None:
    if size > allowed:
        raise ApiError(
            f"The workflow's {field} is {size:,} {unit}; at most {allowed:,} are stored.",
            type="limit_exceeded",
            details={"field": field, "value": size, "allowed": allowed},
        )


def workflow_create(
    *,
    tenant: Tenant,
    name: str,
    graph: dict[str, Any],
    description: str = "",
    inputs: dict[str, Any] | None = None,
    webhook_url: str = "",
    pool: str = "",
) -> Workflow:
    inputs = inputs or {}
    pool = pool_check(pool=pool)
    reject_unstorable_text(description, field="description")
    _check_stored_text(name=name, description=description)
    if webhook_url:
        webhook_url_check(url=webhook_url, field="webhookUrl")
    _check_workflow(tenant=tenant, graph=graph, inputs=inputs)
    return Workflow.objects.create(
        tenant=tenant,
        name=name,
        description=description,
        graph=graph,
        inputs=inputs,
        pool=pool,
        webhook_url=webhook_url,
    )


def workflow_update(*, workflow: Workflow, **changes: Any) -> Workflow:
    """PUT passes every field, PATCH only those sent; the result is validated as a whole."""
    allowed = {"name", "description", "graph", "inputs", "webhook_url", "pool"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    graph = changes.get("graph", workflow.graph)
    inputs = changes.get("inputs", workflow.inputs)
    if "graph" in changes or "inputs" in changes:
        _check_workflow(tenant=workflow.tenant, graph=graph, inputs=inputs)
    reject_unstorable_text(changes.get("description", ""), field="description")
    _check_stored_text(name=changes.get("name", ""), description=changes.get("description", ""))
    if changes.get("webhook_url"):
        webhook_url_check(url=changes["webhook_url"], field="webhookUrl")
    if "pool" in changes:
        changes["pool"] = pool_check(pool=changes["pool"])
    for field, value in changes.items():
        setattr(workflow, field, value)
    workflow.save(update_fields=[*changes, "updated_at"])
    return workflow


def pool_check(*, pool: str) -> str:
    """The pool a workflow names, or the default; one the deployment does not run is a 400."""
    if not pool:
        return settings.GPU_POOL_DEFAULT
    if pool not in settings.GPU_POOLS:
        raise ApiError(
            f"Pool {pool!r} does not exist here; pools: {', '.join(settings.GPU_POOLS)}.",
            type="unknown_pool",
            details={"field": "pool", "value": pool, "pools": list(settings.GPU_POOLS)},
        )
    return pool


def workflow_delete(*, workflow: Workflow) -> None:
    """Soft delete: past executions keep their workflow; the id answers 404 from now on."""
    Workflow.objects.filter(pk=workflow.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())


def workflow_depth_check(*, workflow: Workflow) -> None:
    """A graph stored before request bodies were depth-bounded may nest too deep to run safely."""
    if exceeds_depth(workflow.graph, max_json_depth()):
        raise GraphInvalid(
            f"This workflow's graph nests deeper than {max_json_depth()} levels and cannot run; "
            "replace it (PUT) with a flatter one.",
            type="json_too_deep",
        )


def execution_submit(
    *,
    tenant: Tenant,
    workflow: Workflow,
    inputs: dict[str, Any],
    webhook_url: str = "",
    webhook_events: list[str] | None = None,
    deadline_seconds: int | None = None,
) -> Execution:
    """Resolve the inputs into a graph snapshot, validate it, insert the row, publish on commit."""
    workflow_depth_check(workflow=workflow)
    if webhook_url:
        webhook_url_check(url=webhook_url, field="webhookUrl")
    reject_unstorable_text(inputs, field="inputs")
    try:
        graph = apply_named_inputs(workflow.graph, workflow.inputs, inputs)
    except UnknownNamedInputs as exc:
        raise ApiError(str(exc), type="unknown_input", details={"unknownInputs": exc.names}) from None
    issues, files = graph_issues(graph, tenant=tenant)
    raise_for_issues(issues)
    endpoint_names = referenced_files(graph, LLM_ENDPOINTS)
    llm_endpoint_ids = llm_endpoint_ids_resolve(tenant=tenant, names=endpoint_names) if endpoint_names else {}
    with transaction.atomic():
        # Submits of one tenant are serialised on its row: the concurrency count and the quota are exact.
        locked = Tenant.objects.select_related("plan").select_for_update(of=("self",)).get(pk=tenant.pk)
        limits = tenant_limits(locked)
        # Over the plan's concurrency limit a run waits in the queue (fair_dispatch.py); only a full
        # queue is refused.
        waiting = Execution.objects.filter(tenant=locked, status=ExecutionStatus.QUEUED).count()
        queue_check(tenant=locked, limits=limits, waiting=waiting)
        deadline_at = execution_deadline_at(plan=locked.plan, requested_seconds=deadline_seconds)
        quota_consume(tenant=locked, limits=limits)
        execution = Execution.objects.create(
            tenant=tenant,
            workflow=workflow,
            graph=graph,
            inputs=inputs,
            output_node_ids=output_node_ids(graph, registry()),
            files=files,
            llm_endpoint_ids=llm_endpoint_ids,
            pool=workflow.pool,
            webhook_url=webhook_url,
            webhook_events=webhook_events,
            max_attempts=settings.EXECUTION_MAX_ATTEMPTS,
            deadline_at=deadline_at,
        )
        pool = execution.pool
        transaction.on_commit(lambda: dispatch_after_commit(pool=pool))
    return execution


def execution_apply_event(*, event: dict[str, Any], feed_pool: bool = True) -> bool:
    """Apply one worker event through the forward-only state machine.

    Every transition is a conditional UPDATE on (id, attempt, status); a
    duplicate, stale or out-of-order event matches no row and is ignored.
    A terminal event feeds the pool its next run (`feed_pool`), even when a poll applied it first: the
    poll leaves that to the control worker, off the caller's request.
    """
    execution_id, attempt, kind = (
        str(event.get("executionId") or ""),
        _attempt(event.get("attempt")),
        event.get("type"),
    )
    at = _event_time(event)
    # The attempt is a fencing token: an event of an attempt older than the row's is stale.
    rows = Execution.objects.filter(pk=execution_id, attempt__lte=attempt)
    if kind == HANDED_BACK:
        return execution_requeue(execution_id=execution_id, attempt=attempt, reason="was handed back")
    if kind not in (STARTED, COMPLETED, FAILED):
        log.warning("ignoring event of unknown type %r for %s", kind, execution_id)
        return False
    # The state change and the webhook deliveries it causes commit together, or neither does.
    with transaction.atomic():
        changed = _apply_transition(rows, kind, event, at)
        if changed:
            webhook_event = {STARTED: EXECUTION_STARTED, COMPLETED: EXECUTION_COMPLETED}.get(
                kind, EXECUTION_FAILED
            )
            deliveries_record(execution_id=execution_id, event_type=webhook_event)
    if changed:
        stream_event = {STARTED: events.STARTED, COMPLETED: events.COMPLETED}.get(kind, events.FAILED)
        dispatch.event_append(execution_id=execution_id, event_type=stream_event, data={"attempt": attempt})
    if changed and kind != STARTED:
        dispatch.progress_clear(execution_id=execution_id)
    if kind != STARTED and feed_pool:
        # Its worker is free: the pool's next run, fairly chosen (a duplicate dispatch finds no room).
        pool = Execution.objects.filter(pk=execution_id).values_list("pool", flat=True).first()
        if pool:
            dispatch_after_commit(pool=pool)
    if not changed:
        log.info("ignored %s event for %s attempt %s (duplicate or stale)", kind, execution_id, attempt)
    return bool(changed)


def execution_settle(*, execution: Execution) -> Execution:
    """Apply the outcome its worker already recorded in Redis, if the row does not show it yet.

    The worker keeps its terminal event (protocol/leases.py OUTCOME_KEY) before it sends it to the
    control worker, so a poll need not wait for that hop: whoever sees the outcome first applies it
    through the same idempotent state machine, and the control worker's copy then changes nothing."""
    if execution.status not in ACTIVE_STATUSES:
        return execution
    outcome = dispatch.outcome_read(execution_id=execution.pk)
    if outcome is None or outcome.get("type") not in (COMPLETED, FAILED):
        return execution  # a hand-back is the control worker's to apply (it requeues the run)
    # The pool's next run is the control worker's to dispatch when its copy of the event arrives (or
    # the reaper's next pass): not this request's.
    execution_apply_event(event=outcome, feed_pool=False)
    execution.refresh_from_db()  # applied now, or by the control worker a moment ago
    return execution


def _apply_transition(rows: Any, kind: str, event: dict[str, Any], at: datetime) -> int:
    attempt = _attempt(event.get("attempt"))
    if kind == STARTED:
        # QUEUED, or RUNNING an older attempt (its worker died and the broker handed the run on).
        changed = rows.filter(
            Q(status=ExecutionStatus.QUEUED) | Q(status=ExecutionStatus.RUNNING, attempt__lt=attempt)
        ).update(
            status=ExecutionStatus.RUNNING,
            attempt=attempt,
            started_at=at,
            worker=str(event.get("worker", ""))[:200],
        )
    else:
        fields: dict[str, Any] = {
            "completed_at": at,
            "duration_ms": event.get("durationMs"),
            "attempt": attempt,
            "cached_nodes": event.get("cachedNodes") or [],
            "usage": _usage(event),
        }
        if kind == COMPLETED:
            fields.update(status=ExecutionStatus.COMPLETED, outputs=event.get("outputs") or {})
        else:
            fields.update(status=ExecutionStatus.FAILED, error=event.get("error") or {"type": "unknown"})
        # A terminal event may overtake `started` (a poll applies a recorded outcome before the control
        # worker sees `started`): the run began its duration before it ended.
        duration = event.get("durationMs")
        began = at - timedelta(milliseconds=duration) if isinstance(duration, int) and duration >= 0 else at
        fields["started_at"] = Coalesce(F("started_at"), Value(began))
        changed = rows.filter(status__in=ACTIVE_STATUSES).update(**fields)
    return changed


def dispatch_after_commit(*, pool: str) -> None:
    """Feed the pool's queue (fair_dispatch.py). Never an error for the caller: the reaper's pass
    dispatches again."""
    try:
        fair_dispatch.pool_dispatch(pool=pool)
    except Exception:
        log.exception("dispatching pool %s failed; the reaper's next pass retries", pool)


def execution_requeue(*, execution_id: str, attempt: int, reason: str, counts: bool = False) -> bool:
    """Queue the next attempt of a run its current attempt gave up (only if `attempt` is still current).

    A worker lost mid-run (the reaper) `counts` against the attempt limit; a hand-back by a worker
    that is shutting down does not (the limit is raised by one with it)."""
    extra: dict[str, Any] = {} if counts else {"max_attempts": F("max_attempts") + 1}
    with transaction.atomic():
        changed = Execution.objects.filter(
            pk=execution_id, status__in=ACTIVE_STATUSES, attempt=attempt
        ).update(
            status=ExecutionStatus.QUEUED,
            attempt=F("attempt") + 1,
            published_at=None,
            worker="",
            **extra,
        )
        if changed:
            log.warning("execution %s attempt %s %s; queueing the next", execution_id, attempt, reason)
            pool = Execution.objects.filter(pk=execution_id).values_list("pool", flat=True).first() or ""
            transaction.on_commit(lambda: dispatch_after_commit(pool=pool))
    return bool(changed)


def execution_cancel(*, execution: Execution, by: str = "an operator") -> bool:
    """Cancel a queued or running execution: the row turns CANCELLED at once and the worker stops.

    A queued run is skipped when a worker takes it; a running one stops at its next sampler step or
    node. Events the worker still sends are ignored by the state machine. False if it had ended.
    """
    with transaction.atomic():
        changed = Execution.objects.filter(pk=execution.pk, status__in=ACTIVE_STATUSES).update(
            status=ExecutionStatus.CANCELLED,
            completed_at=timezone.now(),
            error={"type": "cancelled", "message": f"Cancelled by {by}."},
        )
        if changed:
            deliveries_record(execution_id=execution.pk, event_type=EXECUTION_CANCELLED)
    if changed:
        execution_id = execution.pk
        dispatch.progress_clear(execution_id=execution_id)
        dispatch.event_append(execution_id=execution_id, event_type=events.CANCELLED)
        pool = execution.pool
        transaction.on_commit(lambda: dispatch_after_commit(pool=pool))
        transaction.on_commit(lambda: dispatch.cancel_signal(execution_id=execution_id))
    return bool(changed)


def execution_cancel_by_caller(*, execution: Execution) -> Execution:
    """The API's cancel: idempotent for a cancelled execution, a 409 for one that already ended."""
    if not execution_cancel(execution=execution, by="the API caller"):
        execution.refresh_from_db()
        if execution.status != ExecutionStatus.CANCELLED:
            raise ApiError(
                f"Execution {execution.pk} already ended ({execution.status}); there is nothing to cancel.",
                type="execution_finished",
                status=409,
            )
    execution.refresh_from_db()
    return execution


def execution_rerun(*, execution: Execution) -> Execution:
    """Ops action: the same resolved graph again, as a new execution (no quota is taken)."""
    with transaction.atomic():
        rerun = Execution.objects.create(
            tenant=execution.tenant,
            workflow=execution.workflow,
            graph=execution.graph,
            inputs=execution.inputs,
            output_node_ids=execution.output_node_ids,
            files=execution.files,
            llm_endpoint_ids=execution.llm_endpoint_ids,
            pool=execution.pool,
        )
        transaction.on_commit(lambda: dispatch_after_commit(pool=rerun.pool))
    return rerun


def executions_sweep_unpublished(*, older_than_seconds: int | None = None) -> int:
    """Republish executions whose publish never happened (process died between commit and publish)."""
    age = older_than_seconds if older_than_seconds is not None else settings.SWEEP_UNPUBLISHED_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=age)
    ids = list(
        Execution.objects.filter(
            status=ExecutionStatus.QUEUED, published_at__isnull=True, created_at__lte=cutoff
        ).values_list("id", flat=True)[:500]
    )
    if ids:
        fair_dispatch.pools_dispatch()
    return len(ids)


USAGE_COUNTERS = ("requests", "promptTokens", "completionTokens", "totalTokens")


def _usage(event: dict[str, Any]) -> dict[str, Any]:
    """The event's usage, kept to known counters (non-negative integers): a worker's event is data,
    not something to store whatever its shape."""
    llm = (event.get("usage") or {}).get("llm") if isinstance(event.get("usage"), dict) else None
    if not isinstance(llm, dict):
        return {}
    counters = {
        k: v
        for k in USAGE_COUNTERS
        if isinstance(v := llm.get(k), int) and not isinstance(v, bool) and v >= 0
    }
    return {"llm": counters} if counters else {}


def _attempt(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _event_time(event: dict[str, Any]) -> datetime:
    parsed = parse_datetime(event.get("at") or "")
    return parsed or timezone.now()
