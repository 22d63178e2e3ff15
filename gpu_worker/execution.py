"""One execution attempt on this worker: started, run the graph, completed or failed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from gpu_worker.context import WorkerContext
from gpu_worker.encoder import ArtifactFailed
from gpu_worker.executor import NodeFailure, execution_plan, run_graph
from gpu_worker.model_cache import release_memory
from gpu_worker.progress import ProgressReporter
from gpu_worker.runtime import Runtime
from nodes.context import AttemptSuperseded, DeadlineExceeded, ExecutionCancelled, HandedBack
from nodes.graph import GraphIssue, validate_graph
from nodes.llm_remote.specs import ENDPOINTS_SOURCE
from nodes.model_check import unloadable_model_issues
from nodes.model_store import FOLDERS
from protocol.messages import (
    CANCEL_KEY,
    CANCELLED,
    COMPLETED,
    FAILED,
    HANDED_BACK,
    STARTED,
    RunSpec,
    make_event,
)

log = logging.getLogger(__name__)
EmitEvent = Callable[[dict[str, Any]], None]
DEADLINE_ERROR = {"type": "timeout", "message": "The execution ran past its deadline and was stopped."}


def cancel_requested(redis: Any, execution_id: str) -> bool:
    """Whether the api marked the execution cancelled. Redis down: not cancelled (keep working)."""
    try:
        return bool(redis.exists(CANCEL_KEY.format(execution_id=execution_id)))
    except Exception:
        log.warning("could not read the cancel flag of %s", execution_id, exc_info=True)
        return False


def execution_run(
    *,
    spec: RunSpec,
    runtime: Runtime,
    emit: EmitEvent,
    worker_name: str,
    superseded: Callable[[], bool] = lambda: False,
    hand_back: Callable[[], bool] = lambda: False,
) -> str:
    """Runs the spec and emits its events; returns the terminal event type (or CANCELLED)."""

    def cancelled() -> bool:
        # Asked between steps and nodes: the deadline and a newer attempt stop the run like a cancel.
        if spec.deadline_at is not None and time.time() > spec.deadline_at:
            raise DeadlineExceeded(f"Execution {spec.execution_id} ran past its deadline.")
        if superseded():
            raise AttemptSuperseded(f"Execution {spec.execution_id} has a newer attempt.")
        if hand_back():
            raise HandedBack(f"Execution {spec.execution_id} is handed back: the worker is shutting down.")
        return cancel_requested(runtime.redis, spec.execution_id)

    if spec.deadline_at is not None and time.time() > spec.deadline_at:
        emit(make_event(FAILED, spec, error=DEADLINE_ERROR))
        return FAILED
    if cancelled():
        log.info("execution %s was cancelled before it started", spec.execution_id)
        return CANCELLED
    emit(make_event(STARTED, spec, worker=worker_name))
    started = time.monotonic()
    # The worker checks again: its catalogue and model store are what will really run. Its listing is
    # memoised for a few seconds, so before failing a graph the api validated it looks at the disk again.
    issues = worker_graph_issues(spec, runtime)
    if issues:
        runtime.store.refresh()
        issues = worker_graph_issues(spec, runtime)
    if issues:
        first = issues[0]
        error = {"nodeId": first.node_id, "classType": first.class_type, "type": first.type}
        if first.input is not None:
            error["input"] = first.input
        emit(make_event(FAILED, spec, error={**error, "message": first.message}))
        return FAILED

    plan = execution_plan(spec.graph, spec.output_node_ids)
    reporter = ProgressReporter(runtime.redis, spec.execution_id, len(plan), attempt=spec.attempt)
    ctx = WorkerContext(
        spec=spec,
        device=runtime.device,
        models=runtime.models,
        store=runtime.store,
        storage=runtime.storage,
        reporter=reporter,
        cancelled=cancelled,
        encoder=runtime.encoder,
        text_encoder_device=runtime.config.text_encoder_device,
        llm=runtime.config.llm_access,
    )
    try:
        run = run_graph(
            spec.graph,
            plan,
            registry=runtime.registry,
            ctx=ctx,
            reporter=reporter,
            cache=runtime.results,
            cache_scope=spec.tenant_id,
        )
    except NodeFailure as failure:
        error, cached = failure.to_public(), failure.cached_nodes
        out_of_memory, requested = failure.error_type == "out_of_memory", failure.requested_bytes
        del failure  # its traceback holds the frames, and so the tensors, of the run that failed
        recover_memory(runtime, out_of_memory=out_of_memory, requested=requested)
        emit(
            make_event(
                FAILED, spec, error=error, durationMs=_ms_since(started), cachedNodes=cached, usage=ctx.usage
            )
        )
        return FAILED
    except ExecutionCancelled as stop:
        # Cancelled: the row is CANCELLED already (the api set it before raising the flag), so nothing
        # to report, and no progress left behind (images saved before the stop stay in storage).
        # Superseded: the newer attempt reports. Past the deadline: the run fails as a timeout.
        reason = stop.reason
        del stop
        reporter.clear()
        recover_memory(runtime)
        if reason == DeadlineExceeded.reason:
            emit(make_event(FAILED, spec, error=DEADLINE_ERROR, durationMs=_ms_since(started)))
            return FAILED
        if reason == AttemptSuperseded.reason:
            return AttemptSuperseded.reason
        if reason == HandedBack.reason:
            # The caller reports it once the lease is released (gpu_worker/attempt.py).
            return HANDED_BACK
        log.info(
            "execution %s cancelled while running; stopped after %d ms", spec.execution_id, _ms_since(started)
        )
        return CANCELLED

    def finish(error: BaseException | None) -> None:
        if error is not None:
            log.error("an output file of %s failed", spec.execution_id, exc_info=error)
            public = {
                "type": "internal_error",
                "message": "Encoding or storing an output file failed; it has been logged.",
            }
            if isinstance(error, ArtifactFailed):
                public = {"nodeId": error.node_id, **public}
            emit(
                make_event(
                    FAILED,
                    spec,
                    error=public,
                    durationMs=_ms_since(started),
                    cachedNodes=run.cached_nodes,
                    usage=ctx.usage,
                )
            )
            return
        completed = make_event(
            COMPLETED,
            spec,
            outputs=run.outputs,
            durationMs=_ms_since(started),
            cachedNodes=run.cached_nodes,
            usage=ctx.usage,
        )
        emit(completed)

    if ctx.pending and runtime.encoder is not None:
        # COMPLETED once the files are stored, from the encoder's thread; this process takes the next run.
        runtime.encoder.finish_run(ctx.pending, finish)
    else:
        finish(None)
    return COMPLETED


def worker_graph_issues(spec: RunSpec, runtime: Runtime) -> list[GraphIssue]:
    choices: dict[str, Collection[str] | None] = {f: runtime.store.names(f) for f in FOLDERS}
    issues = validate_graph(
        spec.graph,
        runtime.registry,
        dynamic_choices={**choices, "files": list(spec.files), ENDPOINTS_SOURCE: list(spec.llm_endpoints)},
    )
    return issues or unloadable_model_issues(spec.graph, runtime.registry, runtime.store)


def recover_memory(runtime: Runtime, *, out_of_memory: bool = False, requested: int | None = None) -> None:
    """Give back what a stopped run held before the next one starts. After running out of device
    memory the models are dropped too when the failed allocation would have fit without them (an
    allocation bigger than the whole device would fail anyway, so evicting would help nobody)."""
    import torch

    release_memory()
    if out_of_memory and runtime.device.startswith("cuda") and torch.cuda.is_available():
        total = torch.cuda.get_device_properties(torch.device(runtime.device)).total_memory
        if requested is None or requested < total:
            log.warning(
                "out of device memory: dropping the %d cached models", runtime.models.stats()["entries"]
            )
            runtime.models.clear()


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
