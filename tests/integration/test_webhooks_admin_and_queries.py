"""Webhook pages and the redeliver action in admin; webhook lists run a fixed number of queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from tests.support.webhooks import quiet_execution

DEAD_URL = "http://127.0.0.1:9/hook"  # nothing listens on the discard port


@pytest.fixture
def admin_client(db):
    import secrets

    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser(
        username=f"ops-{secrets.token_hex(4)}", password="pw-ops-1"
    )
    client = Client()
    client.force_login(user)
    return client


def finished_delivery(world, endpoint=None, attempts: int = 1):
    from api_service.webhooks.models import WebhookAttempt, WebhookDelivery

    execution = quiet_execution(world.tenant)
    delivery = WebhookDelivery.objects.create(
        tenant=world.tenant,
        execution=execution,
        endpoint=endpoint,
        url=DEAD_URL,
        event_type="execution.completed",
        occurred_at=timezone.now(),
        next_attempt_at=timezone.now(),
        status="FAILED",
        attempt_count=attempts,
        completed_at=timezone.now(),
    )
    for number in range(1, attempts + 1):
        WebhookAttempt.objects.create(
            delivery=delivery, number=number, started_at=timezone.now(), error_class="connection_refused"
        )
    return delivery


def test_admin_shows_endpoints_deliveries_and_triggers_and_redelivers(admin_client, world) -> None:
    from api_service.webhooks import services
    from api_service.webhooks.models import WebhookDelivery

    endpoint = services.endpoint_create(tenant=world.tenant, url=DEAD_URL)
    delivery = finished_delivery(world, endpoint=endpoint, attempts=2)
    for path in (
        "/admin/webhooks/webhookendpoint/",
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        "/admin/webhooks/webhookdelivery/?status__exact=FAILED",
        f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/",
        "/admin/webhooks/trigger/",
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert endpoint.secret not in response.content.decode()
    page = admin_client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "connection_refused" in page  # the attempts are inline
    response = admin_client.post(
        "/admin/webhooks/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert response.status_code == 200 and "Redelivering 1" in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.round_start) in {("PENDING", 2), ("FAILED", 2)}
    assert WebhookDelivery.objects.get(pk=delivery.pk).round_start == 2


def test_webhook_lists_do_not_query_per_row(world) -> None:
    from django.test import Client

    from api_service.webhooks import services
    from tests.integration.test_query_counts import count_queries

    client = Client()
    services.endpoint_create(tenant=world.tenant, url=DEAD_URL)
    one = finished_delivery(world, attempts=1)
    count_queries(client, "/v1/webhook-endpoints", world.key)
    few = {
        "endpoints": count_queries(client, "/v1/webhook-endpoints", world.key),
        "deliveries": count_queries(
            client, f"/v1/workflows/executions/{one.execution_id}/webhooks", world.key
        ),
    }
    for _ in range(5):
        services.endpoint_create(tenant=world.tenant, url=DEAD_URL)
    from api_service.webhooks.models import WebhookAttempt, WebhookDelivery

    for number in range(3):
        extra = WebhookDelivery.objects.create(
            tenant=world.tenant,
            execution_id=one.execution_id,
            url=DEAD_URL,
            event_type="execution.started",
            occurred_at=timezone.now(),
            next_attempt_at=timezone.now(),
            status="SUCCEEDED",
        )
        WebhookAttempt.objects.create(
            delivery=extra, number=1, started_at=timezone.now(), status_code=200 + number
        )
    many = {
        "endpoints": count_queries(client, "/v1/webhook-endpoints", world.key),
        "deliveries": count_queries(
            client, f"/v1/workflows/executions/{one.execution_id}/webhooks", world.key
        ),
    }
    assert many == few


def test_one_receiver_gets_at_most_its_share_of_in_flight_requests(db) -> None:
    import secrets

    from django.conf import settings

    from api_service.webhooks.slots import slot_acquire, slot_release

    target = f"whe_test_{secrets.token_hex(4)}"
    share = settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT
    held = [slot_acquire(target=target, hold_seconds=30) for _ in range(share)]
    assert all(slot is not None and slot.key for slot in held)
    assert slot_acquire(target=target, hold_seconds=30) is None  # this one waits its turn
    assert slot_acquire(target=f"{target}-other", hold_seconds=30) is not None  # others are not held up
    first = held[0]
    assert first is not None
    slot_release(first)
    again = slot_acquire(target=target, hold_seconds=30)
    assert again is not None and again.key == first.key


def test_malformed_ids_are_404s_and_lists_page_like_every_other(world) -> None:
    from django.test import Client

    from api_service.webhooks import services, triggers

    client = Client()
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {world.key}"}
    delivery = finished_delivery(world)
    workflow = delivery.execution.workflow
    triggers.trigger_create(tenant=world.tenant, workflow=workflow, name="t")
    endpoints = [services.endpoint_create(tenant=world.tenant, url=DEAD_URL) for _ in range(3)]
    trigger_base = f"/v1/workflows/{workflow.id}/triggers"
    for malformed in ("%00", "whe_%00", "wf_1", "msg_a%00b", "trg_" + "a" * 41, "exe_x"):
        for path, method in [
            (f"/v1/webhook-endpoints/{malformed}", "get"),
            (f"/v1/webhook-endpoints/{malformed}", "delete"),
            (f"/v1/webhook-endpoints/{malformed}/rotate-secret", "post"),
            (f"/v1/webhook-deliveries/{malformed}/redeliver", "post"),
            (f"{trigger_base}/{malformed}", "get"),
            (f"{trigger_base}/{malformed}/rotate", "post"),
        ]:
            answer = getattr(client, method)(path, **auth)
            assert answer.status_code == 404, (method, path, answer.content)
            assert answer.json()["error"]["type"] == "not_found"
    # A workflowId in a body goes through the same lookup.
    refused = client.post(
        "/v1/webhook-endpoints",
        {"url": DEAD_URL, "workflowId": "exe_1"},
        content_type="application/json",
        **auth,
    )
    assert refused.status_code == 404 and refused.json()["error"]["type"] == "not_found"

    lists = [
        "/v1/webhook-endpoints",
        trigger_base,
        f"/v1/workflows/executions/{delivery.execution_id}/webhooks",
    ]
    for path in lists:
        page = client.get(path, **auth).json()
        assert set(page) == {"items", "next", "previous"} and page["items"], path
        for query, error in [("cursor=junk", "invalid_cursor"), ("limit=0", "invalid_limit")]:
            bad = client.get(f"{path}?{query}", **auth)
            assert bad.status_code == 400 and bad.json()["error"]["type"] == error, (path, query)
    first = client.get("/v1/webhook-endpoints?limit=2", **auth).json()
    second = client.get(first["next"], **auth).json()
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert seen == [endpoint.id for endpoint in reversed(endpoints)]  # newest first, each once
