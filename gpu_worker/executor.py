"""Runs a validated graph: the nodes the outputs need, in topological order."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from gpu_worker.context import WorkerContext
from gpu_worker.errors import public_error
from gpu_worker.node_lists import call_node
from gpu_worker.progress import ProgressReporter
from gpu_worker.result_cache import NodeResultCache, SavedArtifacts, holds_module, node_cache_keys
from nodes.context import ExecutionCancelled
from nodes.graph import is_link, needed_nodes, topological_order
from nodes.llm_remote.specs import ENDPOINTS_SOURCE
from nodes.model_store import FOLDERS
from nodes.registry import Registry
from nodes.schema import CLIP, MODEL, VAE, NodeResult

MODEL_TYPES = frozenset({MODEL, CLIP, VAE, "CONTROL_NET", "UPSCALE_MODEL", "BACKGROUND_REMOVAL"})

log = logging.getLogger(__name__)


class NodeFailure(Exception):
    """A node raised: the execution fails with this node's id and a public message."""

    def __init__(
        self,
        node_id: str,
        class_type: str,
        error_type: str,
        message: str,
        *,
        requested_bytes: int | None = None,
    ) -> None:
        super().__init__(message)
        self.requested_bytes = requested_bytes
        self.node_id = node_id
        self.class_type = class_type
        self.error_type = error_type
        self.message = message
        self.cached_nodes: list[str] = []  # nodes served from the cache before this one failed

    def to_public(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodeId": self.node_id,
            "classType": self.class_type,
            "type": self.error_type,
            "message": self.message,
        }
        if self.requested_bytes is not None:
            data["requestedBytes"] = self.requested_bytes
        return data


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
    run = GraphRun()
    try:
        with ctx.cancellable_modules():
            _run_nodes(graph, plan, registry, ctx, reporter, cache, cache_scope, run)
    except NodeFailure as failure:
        failure.cached_nodes = list(run.cached_nodes)
        raise
    return run


def _run_nodes(
    graph: dict[str, Any],
    plan: list[str],
    registry: Registry,
    ctx: WorkerContext,
    reporter: ProgressReporter,
    cache: NodeResultCache | None,
    cache_scope: str,
    run: GraphRun,
) -> None:
    results: dict[str, tuple[Any, ...]] = {}
    keys = (
        node_cache_keys(
            graph,
            plan,
            scope=cache_scope,
            files=ctx.spec.files,
            models=model_identities(graph, plan, registry, ctx),
        )
        if cache is not None
        else {}
    )
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
        if cache is not None and saves_artifacts and _reuse_output(cache, keys[node_id], ctx, run, node_id):
            results[node_id] = ()
            reporter.node_cached(node_id, class_type)
            continue
        cached = cache.get(keys[node_id]) if cache is not None and cacheable else None
        if cached is not None:
            results[node_id] = cached
            run.cached_nodes.append(node_id)
            reporter.node_cached(node_id, class_type)
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
            result = call_node(registry.implementation(class_type), ctx, spec, kwargs)
        except ExecutionCancelled:
            raise
        except Exception as exc:
            log.exception("node %s (%s) failed", node_id, class_type)
            error = public_error(exc)
            raise NodeFailure(
                node_id, class_type, error.type, error.message, requested_bytes=error.requested_bytes
            ) from exc
        if isinstance(result, NodeResult):
            results[node_id] = tuple(result.outputs)
            if result.ui:
                run.outputs[node_id] = result.ui
        else:
            results[node_id] = tuple(result)
        if cache is not None and cacheable and not holds_module(results[node_id]):
            cache.put(keys[node_id], results[node_id])
        if cache is not None and saves_artifacts and node_id in run.outputs:
            cache.put(keys[node_id], (SavedArtifacts(run.outputs[node_id]),))
        reporter.node_finished()


def model_identities(
    graph: dict[str, Any], plan: list[str], registry: Registry, ctx: WorkerContext
) -> dict[str, dict[str, Any]]:
    """node id -> {input: identity of the model file it names}: a loader's cache key (and so every
    result downstream of it) changes when the file at that name is replaced."""
    found: dict[str, dict[str, Any]] = {}
    for node_id in plan:
        spec = registry.get(graph[node_id]["class_type"])
        for inp in spec.inputs if spec is not None else ():
            value = (graph[node_id].get("inputs") or {}).get(inp.name)
            if inp.choices_source == ENDPOINTS_SOURCE and isinstance(value, str):
                # An endpoint counts by its configuration (URL, default model, key): a result from
                # before ops changed it is not served again.
                config = json.dumps(ctx.spec.llm_endpoints.get(value), sort_keys=True)
                found.setdefault(node_id, {})[inp.name] = [
                    ENDPOINTS_SOURCE,
                    hashlib.sha256(config.encode()).hexdigest(),
                ]
                continue
            if inp.choices_source not in FOLDERS or not isinstance(value, str):
                continue
            try:
                identity = ctx.model_identity(ctx.model_path(inp.choices_source, value))
            except (LookupError, OSError):
                continue  # the node itself reports the missing model when it runs
            found.setdefault(node_id, {})[inp.name] = [inp.choices_source, *identity]
    return found


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
