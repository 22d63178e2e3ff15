"""The gpu worker's Celery app: no Django, one task, GPU-friendly defaults."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_shutdown

from gpu_worker.config import config_or_exit, env_raw
from protocol.messages import CONTROL_QUEUE

# The environment's, else `make run`'s local.env (gpu_worker/config.py), else the local default.
broker = env_raw("CELERY_BROKER_URL") or env_raw("REDIS_URL") or "redis://127.0.0.1:6379/0"
# The whole configuration is checked here, when a worker (or anything else) loads the app: a bad value
# stops the process at start-up with a message naming the variable, not on the first task.
CONFIG = config_or_exit()

app = Celery("crucible_gpu", broker=broker)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    # One run at a time per GPU; a run is acked only when done so a crash redelivers it.
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_default_queue=CONTROL_QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    broker_transport_options=CONFIG.timing.celery_transport_options(),
)
app.autodiscover_tasks(["gpu_worker"], related_name="tasks", force=True)


@worker_process_shutdown.connect
def _store_pending_files(**kwargs: object) -> None:
    """A stopping worker first stores the files it still encodes, and reports those runs."""
    from gpu_worker.runtime import get_runtime

    encoder = get_runtime().encoder if get_runtime.cache_info().currsize else None
    if encoder is not None:
        encoder.drain()
