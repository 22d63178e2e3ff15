"""The gpu worker's Celery entry point: claim the run, keep its lease alive, run it, settle it."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery import signals
from celery.exceptions import Reject

from gpu_worker.celery_app import CONFIG, app
from gpu_worker.drain import DRAIN
from protocol.messages import APPLY_EVENT_TASK, CONTROL_QUEUE, EXECUTE_TASK, ProtocolTooNew, RunSpec

log = logging.getLogger(__name__)
TIMING = CONFIG.timing
PARENT_PID: list[int | None] = [None]  # a pool child's main process, set when the child starts


def worker_id() -> str:
    """This process in the fleet: the launcher's name for it, the host, the pid."""
    return f"{os.environ.get('CRUCIBLE_WORKER_NAME', 'gpu')}@{socket.gethostname()}:{os.getpid()}"


@signals.worker_process_init.connect
def start_process(**_: Any) -> None:
    """Build the runtime (device, caches, clients) when the process starts, announce it to the fleet,
    run the pool's warm-up workflow, then report ready."""
    import redis

    from gpu_worker import drain
    from gpu_worker.announce import Announcer
    from gpu_worker.runtime import get_runtime
    from gpu_worker.warmup import warm_up

    PARENT_PID[0] = os.getppid()
    client = redis.Redis.from_url(CONFIG.redis_url, socket_timeout=2, socket_connect_timeout=2)
    announcer = Announcer(
        client,
        pool=CONFIG.pool,
        worker_id=worker_id(),
        interval=TIMING.heartbeat_seconds,
        lease=TIMING.lease_seconds,
    )
    drain.protect_child()  # until a run starts (drain.py): an idle child leaves with the pool
    announcer.start()  # "starting": listed at once, while torch and the models load
    runtime = get_runtime()
    runtime.announcer = announcer
    announcer.attach(runtime)
    if CONFIG.warmup_graph is not None:
        announcer.set("warming")
        announcer.warmup_error = warm_up(runtime, CONFIG.warmup_graph, worker=announcer.worker_id)
    announcer.set("ready")


@signals.worker_shutting_down.connect
def drain_pool(**_: Any) -> None:
    """The main process's warm shutdown (SIGTERM): the child running an execution drains."""
    from gpu_worker import drain

    drain.forward_to_children()


@signals.worker_process_shutdown.connect
def leave_fleet(**_: Any) -> None:
    from gpu_worker.runtime import get_runtime

    announcer = getattr(get_runtime(), "announcer", None)
    if announcer is not None:
        announcer.stop()


def _draining(runtime: Any) -> None:
    announcer = getattr(runtime, "announcer", None)
    if announcer is not None:
        announcer.set("draining", announcer.execution)


# A broker that is briefly unreachable (a restart, a failover) must not lose an event: the send is
# retried for about two minutes (Celery's default gives up after three tries within a second).
EMIT_RETRY = {"max_retries": 60, "interval_start": 0.5, "interval_step": 0.5, "interval_max": 2}


def emit_event(event: dict[str, Any]) -> None:
    app.send_task(APPLY_EVENT_TASK, args=[event], queue=CONTROL_QUEUE, retry=True, retry_policy=EMIT_RETRY)


@app.task(
    name=EXECUTE_TASK,
    acks_late=True,
    time_limit=TIMING.task_time_limit,
    soft_time_limit=TIMING.soft_time_limit,
)
def execute(spec: dict[str, Any]) -> str:
    from gpu_worker import drain
    from gpu_worker.attempt import attempt_run, refuse_protocol
    from gpu_worker.runtime import get_runtime

    runtime = get_runtime()
    drain.install(grace=TIMING.drain_grace, parent_pid=PARENT_PID[0], on_request=lambda: _draining(runtime))
    if DRAIN.requested:
        # Shutting down: a run prefetched meanwhile goes back to the queue for another worker.
        raise Reject("the worker is shutting down", requeue=True)
    try:
        run_spec = RunSpec.from_dict(spec)
    except ProtocolTooNew as exc:
        return refuse_protocol(spec, str(exc), emit=emit_event)
    return attempt_run(
        spec=run_spec,
        runtime=runtime,
        emit=emit_event,
        worker=worker_id(),
        timing=TIMING,
        hand_back=DRAIN.expired,
    )
