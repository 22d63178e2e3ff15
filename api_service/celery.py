"""The control worker's Celery app (with Django): events, sweeps, and later webhooks."""

from __future__ import annotations

import os

from celery import Celery
from django.conf import settings

from protocol.messages import CONTROL_QUEUE, WEBHOOKS_QUEUE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api_service.settings")

app = Celery("crucible_control")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["api_service.workflows", "api_service.webhooks"])
app.autodiscover_tasks(["api_service.webhooks"], related_name="trigger_tasks")
app.conf.beat_schedule = {
    "sweep-unpublished-executions": {
        "task": "crucible.control.sweep_unpublished",
        "schedule": float(getattr(settings, "SWEEP_INTERVAL_SECONDS", 15)),
        "options": {"queue": CONTROL_QUEUE},
    },
    "reap-executions": {
        "task": "crucible.control.reap",
        "schedule": float(getattr(settings, "REAPER_INTERVAL_SECONDS", 5)),
        "options": {"queue": CONTROL_QUEUE},
    },
    "sweep-webhook-deliveries": {
        "task": "crucible.webhooks.sweep",
        "schedule": float(getattr(settings, "SWEEP_INTERVAL_SECONDS", 15)),
        "options": {"queue": WEBHOOKS_QUEUE},
    },
    "purge-expired-idempotency-keys": {
        "task": "crucible.control.purge_idempotency_keys",
        "schedule": 3600.0,
        "options": {"queue": CONTROL_QUEUE},
    },
    "purge-old-trigger-events": {
        "task": "crucible.control.purge_trigger_events",
        "schedule": 3600.0,
        "options": {"queue": CONTROL_QUEUE},
    },
}
