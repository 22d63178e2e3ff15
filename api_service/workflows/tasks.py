"""Control-worker entry points: thin wrappers around the execution services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from api_service.workflows import services
from gpu_worker.protocol import APPLY_EVENT_TASK, CONTROL_QUEUE


@shared_task(name=APPLY_EVENT_TASK, queue=CONTROL_QUEUE, acks_late=True, time_limit=60, soft_time_limit=50)
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


@shared_task(name="crucible.control.fail_stale", queue=CONTROL_QUEUE, time_limit=120, soft_time_limit=100)
def fail_stale() -> int:
    return services.executions_fail_stale()
