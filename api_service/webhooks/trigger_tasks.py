"""Control-worker housekeeping for trigger URLs: a thin wrapper around the trigger service."""

from __future__ import annotations

from celery import shared_task

from api_service.webhooks import triggers
from protocol.messages import CONTROL_QUEUE


@shared_task(
    name="crucible.control.purge_trigger_events", queue=CONTROL_QUEUE, time_limit=300, soft_time_limit=280
)
def purge_trigger_events() -> int:
    return triggers.trigger_events_purge()
