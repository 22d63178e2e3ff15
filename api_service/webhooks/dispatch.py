"""The one place that publishes webhook deliveries to the control worker's `webhooks` queue."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from protocol.messages import WEBHOOKS_QUEUE

log = logging.getLogger(__name__)

DELIVER_TASK = "crucible.webhooks.deliver"


def delivery_publish(*, delivery_id: str, countdown: float | None = None) -> bool:
    """Called on commit, after a failed attempt and by the sweeper; a lost publish is swept again."""
    from api_service.celery import app
    from api_service.webhooks.models import WebhookDelivery

    try:
        app.send_task(
            DELIVER_TASK,
            args=[delivery_id],
            queue=WEBHOOKS_QUEUE,
            countdown=countdown,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        )
        # When the message becomes deliverable (its countdown included): the sweeper leaves the row
        # alone until well after that, so a backlog is not answered with more copies of the message.
        due = timezone.now() + timedelta(seconds=countdown or 0)
        WebhookDelivery.objects.filter(pk=delivery_id).update(published_at=due)
    except Exception:
        log.exception("publishing webhook delivery %s failed; the sweeper will retry", delivery_id)
        return False
    return True
