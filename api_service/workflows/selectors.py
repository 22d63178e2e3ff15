"""Reads for workflows and executions, always scoped to one tenant."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from api_service.accounts.models import Tenant
from api_service.core import storage
from api_service.core.errors import NotFound
from api_service.fleet.selectors import FleetUnavailable, fleet_workers, live_pools
from api_service.workflows import dispatch
from api_service.workflows.models import Execution, ExecutionStatus, Workflow


def workflow_list(*, tenant: Tenant, only: list[str] | None = None) -> QuerySet[Workflow]:
    """`only`: a key restricted to some workflows sees just those."""
    rows = Workflow.objects.filter(tenant=tenant, deleted_at__isnull=True)
    return rows if only is None else rows.filter(pk__in=only)


def workflow_get(*, tenant: Tenant, workflow_id: str, only: list[str] | None = None) -> Workflow:
    workflow = workflow_list(tenant=tenant, only=only).filter(pk=workflow_id).first()
    if workflow is None:
        raise NotFound(f"No workflow {workflow_id!r}.")
    return workflow


def execution_list(
    *, tenant: Tenant, workflow: Workflow | None = None, only: list[str] | None = None
) -> QuerySet[Execution]:
    rows = Execution.objects.filter(tenant=tenant)
    if only is not None:
        rows = rows.filter(workflow_id__in=only)
    if workflow is not None:
        rows = rows.filter(workflow=workflow)
    return rows.defer("graph", "files")


def execution_get(*, tenant: Tenant, execution_id: str, only: list[str] | None = None) -> Execution:
    execution = execution_list(tenant=tenant, only=only).filter(pk=execution_id).first()
    if execution is None:
        raise NotFound(f"No execution {execution_id!r}.")
    return execution


def execution_progress(*, execution: Execution) -> dict[str, Any] | None:
    """Live progress while RUNNING; terminal rows report 1.0, queued ones 0."""
    if execution.status == ExecutionStatus.RUNNING:
        return dispatch.progress_read(execution_id=execution.id) or {"fraction": 0.0}
    if execution.status == ExecutionStatus.COMPLETED:
        return {"fraction": 1.0}
    return {"fraction": 0.0} if execution.status == ExecutionStatus.QUEUED else None


def execution_waiting(*, execution: Execution) -> dict[str, Any] | None:
    """Why a QUEUED execution has not started: its place in its pool's queue, and whether any worker
    serves that pool at all (None once it runs)."""
    if execution.status != ExecutionStatus.QUEUED:
        return None
    from api_service.workflows.fair_dispatch import queue_position

    position = queue_position(execution=execution)
    waiting: dict[str, Any] = {"pool": execution.pool, "position": position, "reason": "queued"}
    if position is None:
        waiting["reason"] = "concurrency_limit"
        waiting["message"] = "Your plan's concurrency limit is reached; it starts when one of yours ends."
    try:
        live = live_pools(fleet_workers())[execution.pool]
    except FleetUnavailable:
        return waiting
    if live == 0:
        waiting["reason"] = "no_worker"
        waiting["message"] = (
            f"No worker of pool {execution.pool!r} is running; the execution waits for one "
            f"(it fails as no_worker after {settings.NO_WORKER_FAIL_AFTER_SECONDS} s without any)."
        )
    return waiting


def execution_public_outputs(*, execution: Execution) -> dict[str, Any]:
    """Output nodes' data with each stored file's key swapped for a presigned URL minted now.

    Every list of files a node reported (images, videos, text) is served, whatever its name, and
    every other value of the node's data passes through: nothing a node outputs is dropped.
    """
    public: dict[str, Any] = {}
    for node_id, data in (execution.outputs or {}).items():
        public[node_id] = {
            name: [public_artifact(item) for item in items] if _is_artifact_list(items) else items
            for name, items in dict(data).items()
        }
    return public


def public_artifact(item: dict[str, Any]) -> dict[str, Any]:
    """One stored file as poll shows it: `url` first, the worker's fields (contentType, mediaType, sizes,
    frames, fps, durationSeconds, inline text ...) after; rows from before mediaType existed are images."""
    content_type = item.get("contentType", "image/png")
    fields = {k: v for k, v in item.items() if k != "key"}
    return {
        "url": storage.object_presigned_url(key=item["key"]),
        **fields,
        "contentType": content_type,
        "mediaType": item.get("mediaType") or content_type.split("/", 1)[0],
    }


def _is_artifact_list(items: Any) -> bool:
    return isinstance(items, list) and bool(items) and all(isinstance(i, dict) and "key" in i for i in items)


def graph_warnings(*, graph: Any) -> list[dict[str, Any]]:
    """What the graph carries that does not run (inputs no node has, as ComfyUI ignores them)."""
    from api_service.workflows.graph_check import registry
    from nodes.graph_warnings import ignored_inputs

    return [warning.to_public() for warning in ignored_inputs(graph, registry())]
