"""The gpu worker's Celery entry point."""

from __future__ import annotations

import os
import socket
from typing import Any

from gpu_worker.celery_app import app
from gpu_worker.protocol import APPLY_EVENT_TASK, CONTROL_QUEUE, EXECUTE_TASK, RunSpec

TIME_LIMIT = int(os.environ.get("GPU_TASK_TIME_LIMIT", "1800"))


def emit_event(event: dict[str, Any]) -> None:
    app.send_task(APPLY_EVENT_TASK, args=[event], queue=CONTROL_QUEUE)


@app.task(name=EXECUTE_TASK, acks_late=True, time_limit=TIME_LIMIT, soft_time_limit=TIME_LIMIT - 30)
def execute(spec: dict[str, Any]) -> str:
    from gpu_worker.execution import execution_run
    from gpu_worker.runtime import get_runtime

    return execution_run(
        spec=RunSpec.from_dict(spec),
        runtime=get_runtime(),
        emit=emit_event,
        worker_name=socket.gethostname(),
    )
