"""Reads for workflows and executions, always scoped to one tenant."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from api_service.accounts.models import Tenant
from api_service.core import storage
from api_service.core.errors import NotFound
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


def execution_public_outputs(*, execution: Execution) -> dict[str, Any]:
    """Output nodes' data with artifact keys swapped for presigned URLs minted now."""
    public: dict[str, Any] = {}
    for node_id, data in (execution.outputs or {}).items():
        node_out = dict(data)
        if "images" in data:
            node_out["images"] = [
                {
                    "url": storage.object_presigned_url(key=image["key"]),
                    "contentType": image.get("contentType", "image/png"),
                    "width": image.get("width"),
                    "height": image.get("height"),
                    "filename": image.get("filename"),
                }
                for image in data["images"]
            ]
        public[node_id] = node_out
    return public


def graph_warnings(*, graph: Any) -> list[dict[str, Any]]:
    """What the graph carries that does not run (inputs no node has, as ComfyUI ignores them)."""
    from api_service.workflows.graph_check import registry
    from nodes.graph_warnings import ignored_inputs

    return [warning.to_public() for warning in ignored_inputs(graph, registry())]
