"""A pool's warm-up workflow, run once when a worker process starts (models loaded, kernels compiled)
before it reports ready: the first real run then finds a warm worker."""

from __future__ import annotations

import logging
import time
from typing import Any

from nodes.graph import output_node_ids
from protocol.messages import COMPLETED, RunSpec

log = logging.getLogger(__name__)


def warm_up(runtime: Any, graph: dict[str, Any], *, worker: str) -> str | None:
    """Runs the graph like an execution (events kept here, artifacts under warmup/); returns the
    error message if it failed, None if it completed."""
    from gpu_worker.execution import execution_run

    events: list[dict[str, Any]] = []
    spec = RunSpec(
        execution_id=f"warmup-{worker}",
        attempt=1,
        tenant_id="warmup",
        graph=graph,
        output_node_ids=output_node_ids(graph, runtime.registry),
        storage_prefix=f"warmup/{worker.replace(':', '_')}/",
    )
    started = time.monotonic()
    try:
        outcome = execution_run(spec=spec, runtime=runtime, emit=events.append, worker_name=worker)
    except Exception as exc:  # a warm-up must never stop the worker: runs report their own errors
        log.exception("warm-up workflow failed")
        return f"{type(exc).__name__}: {exc}"[:500]
    if outcome != COMPLETED:
        error = (events[-1].get("error") or {}) if events else {}
        log.error("warm-up workflow %s: %s", outcome, error)
        return str(error.get("message") or outcome)[:500]
    log.info("warm-up workflow completed in %.1f s", time.monotonic() - started)
    return None
