"""The gpu worker's Celery entry point: claim the run, keep its lease alive, run it, settle it."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery import signals

from gpu_worker.celery_app import CONFIG, app
from gpu_worker.protocol import APPLY_EVENT_TASK, CONTROL_QUEUE, EXECUTE_TASK, RunSpec

log = logging.getLogger(__name__)
TIMING = CONFIG.timing


@signals.worker_process_init.connect
def warm_runtime(**_: Any) -> None:
    """Build the runtime (device, caches, clients) when the process starts, not on the first run."""
    from gpu_worker.runtime import get_runtime

    get_runtime()


def emit_event(event: dict[str, Any]) -> None:
    app.send_task(APPLY_EVENT_TASK, args=[event], queue=CONTROL_QUEUE)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@app.task(
    name=EXECUTE_TASK,
    acks_late=True,
    time_limit=TIMING.task_time_limit,
    soft_time_limit=TIMING.soft_time_limit,
)
def execute(spec: dict[str, Any]) -> str:
    from gpu_worker.attempt import attempt_run
    from gpu_worker.runtime import get_runtime

    run_spec = RunSpec.from_dict(spec)
    runtime = get_runtime()
    return attempt_run(spec=run_spec, runtime=runtime, emit=emit_event, worker=worker_id(), timing=TIMING)
