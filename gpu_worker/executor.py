"""Runs a validated graph: the nodes the outputs need, in topological order."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gpu_worker.context import WorkerContext
from gpu_worker.progress import ProgressReporter
from gpu_worker.result_cache import NodeResultCache, SavedArtifacts, holds_module, node_cache_keys
from nodes.context import ExecutionCancelled
from nodes.graph import is_link, needed_nodes, topological_order
from nodes.registry import Registry
from nodes.schema import CLIP, MODEL, VAE, NodeResult

MODEL_TYPES = frozenset({MODEL, CLIP, VAE, "CONTROL_NET", "UPSCALE_MODEL"})

log = logging.getLogger(__name__)


class NodeFailure(Exception):
    """A node raised: the execution fails with this node's id and a public message."""

    def __init__(self, node_id: str, class_type: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.class_type = class_type
        self.error_type = error_type
        self.message = message

    def to_public(self) -> dict[str, str]:
        return {
            "nodeId": self.node_id,
            "classType": self.class_type,
            "type": self.error_type,
            "message": self.message,
        }


def execution_plan(graph: dict[str, Any], output_node_ids: list[str]) -> list[str]:
    return topological_order(graph, needed_nodes(graph, output_node_ids))


def run_graph(
    graph: dict[str, Any],
    plan: list[str],
    *,
    registry: Registry,
    ctx: WorkerContext,
    reporter: ProgressReporter,
    cache: NodeResultCache | None = None,
    cache_scope: str = "",
) -> GraphRun:
    """Execute `plan` in order, reusing cached results; returns output nodes' data and the cached node ids."""
    results: dict[str, tuple[Any, ...]] = {}
    run = GraphRun()
    keys = node_cache_keys(graph, plan, scope=cache_scope, files=ctx.spec.files) if cache is not None else {}
    for node_id in plan:
        node = graph[node_id]
        class_type = node["class_type"]
        spec = registry.get(class_type)
        assert spec is not None, "graphs are validated before they run"
        # Models are the model cache's to keep, so results that reach one (loaders' handles, a
        # CONDITIONING carrying a ControlNet) are never held here: that would pin models the model
        # cache evicted. An output node is held as its artifacts, copied for an identical rerun.
        cacheable = (
            cache is not None
            and not spec.output_node
            and not any(o.type in MODEL_TYPES for o in spec.outputs)
        )
        saves_artifacts = cache is not None and spec.output_node and not spec.outputs
        ctx.node_id = node_id
        if saves_artifacts and _reuse_output(cache, keys[node_id], ctx, run, node_id):
            results[node_id] = ()
            reporter.node_finished()
            continue
        cached = cache.get(keys[node_id]) if cacheable else None
        if cached is not None:
            results[node_id] = cached
            run.cached_nodes.append(node_id)
            reporter.node_finished()
            continue
        kwargs: dict[str, Any] = {}
        for inp in spec.inputs:
            if inp.name in node.get("inputs", {}):
                value = node["inputs"][inp.name]
                kwargs[inp.name] = results[value[0]][value[1]] if is_link(value) else value
            elif inp.default is not None:
                kwargs[inp.name] = inp.default
        reporter.node_started(node_id, class_type)
        try:
            ctx.check_cancelled()
            result = registry.implementation(class_type)(ctx, **kwargs)
        except ExecutionCancelled:
            raise
        except Exception as exc:
            log.exception("node %s (%s) failed", node_id, class_type)
            raise NodeFailure(node_id, class_type, error_type_of(exc), public_message(exc)) from exc
        if isinstance(result, NodeResult):
            results[node_id] = tuple(result.outputs)
            if result.ui:
                run.outputs[node_id] = result.ui
        else:
            results[node_id] = tuple(result)
        if cacheable and not holds_module(results[node_id]):
            cache.put(keys[node_id], results[node_id])
        if saves_artifacts and node_id in run.outputs:
            cache.put(keys[node_id], (SavedArtifacts(run.outputs[node_id]),))
        reporter.node_finished()
    return run


def _reuse_output(cache: NodeResultCache, key: str, ctx: WorkerContext, run: GraphRun, node_id: str) -> bool:
    """An identical output node's artifacts, copied for this execution; False to run the node."""
    saved = cache.get(key)
    if saved is None:
        return False
    ui = ctx.reuse_artifacts(saved[0].ui)
    if ui is None:
        return False
    run.outputs[node_id] = ui
    run.cached_nodes.append(node_id)
    return True


@dataclass
class GraphRun:
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cached_nodes: list[str] = field(default_factory=list)


def error_type_of(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "SoftTimeLimitExceeded":
        return "timeout"
    if name == "ModelNotFound":
        return "model_not_found"
    if name == "UnknownFile":
        return "file_not_found"
    if name == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return "out_of_memory"
    if isinstance(exc, (ValueError, TypeError)):
        return "invalid_node_input"
    return "node_error"


GENERIC_MESSAGE = "The node failed inside the worker; the details are in the worker's log."
# Errors whose message is written for the caller (ours or torch's argument checks); others may carry
# internal addresses, paths or bucket names and get a generic message.
CALLER_FACING_TYPES = ("model_not_found", "file_not_found", "out_of_memory", "invalid_node_input", "timeout")


def public_message(exc: BaseException) -> str:
    """One line, no traceback or internal paths; the full story is in the worker log."""
    if error_type_of(exc) not in CALLER_FACING_TYPES or isinstance(exc, OSError):
        return GENERIC_MESSAGE
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:500]
