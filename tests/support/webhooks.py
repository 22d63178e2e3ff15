"""Helpers for webhook tests: executions no gpu worker runs, events applied as a worker sends them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.support.graphs import TEXT_TO_IMAGE


def quiet_execution(tenant: Any, **fields: Any) -> Any:
    """A QUEUED row that was never published: only the test moves it, through the real services."""
    from api_service.workflows.models import Execution, Workflow

    workflow = fields.pop("workflow", None) or Workflow.objects.create(
        tenant=tenant, name="w", graph=TEXT_TO_IMAGE
    )
    return Execution.objects.create(
        tenant=tenant, workflow=workflow, graph=TEXT_TO_IMAGE, output_node_ids=["9"], **fields
    )


def worker_event(execution: Any, kind: str, **fields: Any) -> bool:
    from api_service.workflows.services import execution_apply_event

    event = {"type": kind, "executionId": execution.id, "attempt": execution.attempt, **fields}
    return execution_apply_event(event=event)


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.1)


def delivery_settled(delivery_id: str) -> Any:
    from api_service.webhooks.models import WebhookDelivery

    def check() -> Any:
        delivery = WebhookDelivery.objects.get(pk=delivery_id)
        return delivery if delivery.status != "PENDING" else None

    return eventually(check, what=f"delivery {delivery_id} settled")


def verify(secret: str, request: Any) -> dict:
    """What a receiver does: the standardwebhooks library checks the signature and the timestamp."""
    from standardwebhooks import Webhook

    return Webhook(secret).verify(request.body, request.headers)
