"""Runs a validated graph: the nodes the outputs need, in topological order."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gpu_worker.context import WorkerContext
from gpu_worker.progress import ProgressReporter
from gpu_worker.result_cache import NodeResultCache, node_cache_keys
from nodes.graph import is_link, needed_nodes, topological_order
from nodes.registry import Registry
from nodes.schema import NodeResult

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
    keys = node_cache_keys(graph, plan, scope=cache_scope) if cache is not None else {}
    for node_id in plan:
        node = graph[node_id]
        class_type = node["class_type"]
        spec = registry.get(class_type)
        assert spec is not None, "graphs are validated before they run"
        # Output nodes always run: each execution gets its own artifacts.
        cached = cache.get(keys[node_id]) if cache is not None and not spec.output_node else None
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
        ctx.node_id = node_id
        reporter.node_started(node_id, class_type)
        try:
            ctx.check_cancelled()
            result = registry.implementation(class_type)(ctx, **kwargs)
        except Exception as exc:
            log.exception("node %s (%s) failed", node_id, class_type)
            raise NodeFailure(node_id, class_type, error_type_of(exc), public_message(exc)) from exc
        if isinstance(result, NodeResult):
            results[node_id] = tuple(result.outputs)
            if result.ui:
                run.outputs[node_id] = result.ui
        else:
            results[node_id] = tuple(result)
        if cache is not None and not spec.output_node:
            cache.put(keys[node_id], results[node_id])
        reporter.node_finished()
    return run


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


def public_message(exc: BaseException) -> str:
    """One line, no traceback or internal paths; the full story is in the worker log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:500]
