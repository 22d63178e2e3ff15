"""A gpu worker's runtime in the test process: the real executor, caches, Redis and S3, no Celery.

Tests and benchmarks that look inside one execution attempt (cancel latency inside a node, what a
failure frees, which cached results a replaced model file invalidates) call
gpu_worker.execution.execution_run directly with this runtime and read the events it emits.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def worker_runtime(models_dir: Path, *, listing_ttl: float = 5.0, cache_bytes: int = 512 * 2**20) -> Any:
    """A Runtime over `models_dir` on the CPU, configured from the test session's environment."""
    import redis

    from gpu_worker.config import WorkerConfig
    from gpu_worker.model_cache import ModelCache
    from gpu_worker.result_cache import NodeResultCache
    from gpu_worker.runtime import Runtime
    from gpu_worker.storage import ArtifactStorage
    from nodes.catalog import default_registry
    from nodes.model_store import ModelStore

    config = dataclasses.replace(WorkerConfig.from_env(), models_dir=models_dir, device="cpu")
    return Runtime(
        config=config,
        device="cpu",
        registry=default_registry(),
        models=ModelCache(cache_bytes),
        results=NodeResultCache(256 * 2**20),
        store=ModelStore(models_dir, ttl_seconds=listing_ttl),
        storage=ArtifactStorage(config),
        redis=redis.Redis.from_url(config.redis_url, socket_timeout=2, socket_connect_timeout=2),
    )


@dataclasses.dataclass
class Attempt:
    outcome: str  # the terminal event type, or "cancelled"
    events: list[dict[str, Any]]
    seconds: float
    cancelled_at: float | None = None  # monotonic time the cancel flag was raised, if it was
    ended_at: float = 0.0

    @property
    def last(self) -> dict[str, Any]:
        return self.events[-1]

    @property
    def stop_latency(self) -> float | None:
        """Seconds from raising the cancel flag to the attempt returning."""
        return None if self.cancelled_at is None else self.ended_at - self.cancelled_at


def run_attempt(
    runtime: Any,
    graph: dict[str, Any],
    *,
    tenant: str = "t_worker",
    cancel_when: Callable[[dict[str, Any]], bool] | None = None,
    cancel_delay: float = 0.0,
) -> Attempt:
    """Run `graph` as one execution attempt. With `cancel_when`, a watcher raises the execution's
    cancel flag `cancel_delay` seconds after the live progress first satisfies it."""
    import json

    from gpu_worker.execution import execution_run
    from nodes.graph import output_node_ids
    from protocol.messages import CANCEL_KEY, PROGRESS_KEY, RunSpec

    execution_id = f"exe_{uuid.uuid4().hex}"
    spec = RunSpec(
        execution_id=execution_id,
        attempt=1,
        tenant_id=tenant,
        graph=graph,
        output_node_ids=output_node_ids(graph, runtime.registry),
        storage_prefix=f"tenants/{tenant}/executions/{execution_id}/",
    )
    events: list[dict[str, Any]] = []
    attempt = Attempt(outcome="", events=events, seconds=0.0)
    done = threading.Event()

    def watch() -> None:
        key = PROGRESS_KEY.format(execution_id=execution_id)
        while not done.is_set():
            raw = runtime.redis.get(key)
            if raw is not None and cancel_when is not None and cancel_when(json.loads(raw)):
                time.sleep(cancel_delay)
                runtime.redis.set(CANCEL_KEY.format(execution_id=execution_id), "1", ex=600)
                attempt.cancelled_at = time.monotonic()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True) if cancel_when else None
    if watcher:
        watcher.start()
    start = time.monotonic()
    try:
        attempt.outcome = execution_run(spec=spec, runtime=runtime, emit=events.append, worker_name="test")
    finally:
        attempt.ended_at = time.monotonic()
        done.set()
        if watcher:
            watcher.join()
    attempt.seconds = attempt.ended_at - start
    return attempt


def in_node(class_type: str) -> Callable[[dict[str, Any]], bool]:
    """A cancel_when condition: the run is inside a node of this class."""
    return lambda progress: progress.get("classType") == class_type
