"""Control-worker entry points: thin wrappers around the execution services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError

from api_service.workflows import reaper, services
from protocol.messages import APPLY_EVENT_TASK, CONTROL_QUEUE


# A database error (failover, a dropped connection) must not lose an event: retried with backoff for
# about ten minutes; applying an event twice changes nothing (conditional updates on attempt/status).
@shared_task(
    name=APPLY_EVENT_TASK,
    queue=CONTROL_QUEUE,
    acks_late=True,
    time_limit=60,
    soft_time_limit=50,
    autoretry_for=(DatabaseError,),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=20,
)
def apply_event(event: dict[str, Any]) -> bool:
    return services.execution_apply_event(event=event)


@shared_task(
    name="crucible.control.sweep_unpublished", queue=CONTROL_QUEUE, time_limit=120, soft_time_limit=100
)
def sweep_unpublished() -> int:
    return services.executions_sweep_unpublished()


@shared_task(
    name="crucible.control.purge_idempotency_keys", queue=CONTROL_QUEUE, time_limit=120, soft_time_limit=100
)
def purge_idempotency_keys() -> int:
    from api_service.http.idempotency import idempotency_purge_expired

    return idempotency_purge_expired()


@shared_task(name="crucible.control.reap", queue=CONTROL_QUEUE, time_limit=120, soft_time_limit=100)
def reap() -> dict[str, int]:
    return reaper.executions_reap()
