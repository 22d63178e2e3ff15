"""Control-worker entry points for webhooks: one attempt of one delivery, and the sweeper."""

from __future__ import annotations

from celery import shared_task

from api_service.webhooks import delivery, services
from api_service.webhooks.dispatch import DELIVER_TASK
from protocol.messages import WEBHOOKS_QUEUE

SOFT_LIMIT, HARD_LIMIT, _HOLD = delivery.attempt_time_limits()


# acks_late: a worker killed mid-send leaves the message to be taken again; the row's claim lapses.
# The limits come from delivery.attempt_time_limits, which also sizes the claim to outlast them.
@shared_task(
    name=DELIVER_TASK, queue=WEBHOOKS_QUEUE, acks_late=True, time_limit=HARD_LIMIT, soft_time_limit=SOFT_LIMIT
)
def deliver(delivery_id: str) -> str:
    return delivery.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="crucible.webhooks.sweep", queue=WEBHOOKS_QUEUE, time_limit=120, soft_time_limit=100)
def sweep() -> int:
    return services.deliveries_sweep()
