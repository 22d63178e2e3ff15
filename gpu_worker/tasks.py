"""The gpu worker's Celery entry point."""

from __future__ import annotations

import logging
import socket
from typing import Any

from gpu_worker.celery_app import app
from gpu_worker.config import env_int
from gpu_worker.protocol import APPLY_EVENT_TASK, CONTROL_QUEUE, EXECUTE_TASK, RunSpec

log = logging.getLogger(__name__)
TIME_LIMIT = env_int("GPU_TASK_TIME_LIMIT", 1800)


def emit_event(event: dict[str, Any]) -> None:
    app.send_task(APPLY_EVENT_TASK, args=[event], queue=CONTROL_QUEUE)


@app.task(name=EXECUTE_TASK, acks_late=True, time_limit=TIME_LIMIT, soft_time_limit=TIME_LIMIT - 30)
def execute(spec: dict[str, Any]) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    from gpu_worker.execution import execution_run
    from gpu_worker.protocol import FAILED, make_event
    from gpu_worker.runtime import get_runtime

    run_spec = RunSpec.from_dict(spec)
    try:
        return execution_run(
            spec=run_spec, runtime=get_runtime(), emit=emit_event, worker_name=socket.gethostname()
        )
    except Exception as exc:
        # Whatever broke outside a node (storage, Redis, a time limit), the row must not stay RUNNING.
        log.exception("execution %s failed outside its nodes", run_spec.execution_id)
        timeout = isinstance(exc, SoftTimeLimitExceeded)
        error = {
            "type": "timeout" if timeout else "internal_error",
            "message": "The execution ran past its time limit."
            if timeout
            else "The worker failed; it has been logged.",
        }
        emit_event(make_event(FAILED, run_spec, error=error))
        return FAILED
