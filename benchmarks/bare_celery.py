"""A bare Celery app for the fleet benchmark's baseline: one echo task on the same broker, with the
same worker settings as a gpu worker (concurrency 1, prefetch 1, late ack)."""

from __future__ import annotations

import os

from celery import Celery

broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("bench_bare", broker=broker, backend=os.environ.get("REDIS_URL", broker))
app.conf.update(
    task_serializer="json", accept_content=["json"], task_acks_late=True, worker_prefetch_multiplier=1
)


@app.task(name="bench.echo")
def echo(value: int) -> int:
    return value
