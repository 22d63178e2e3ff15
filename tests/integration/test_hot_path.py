"""The api's hot path: keys reused from the auth cache until anything about them changes, presigned
URLs reused, and a poll that applies an outcome its worker recorded before the control worker does."""

from __future__ import annotations

import json

from tests.support.graphs import TEXT_TO_IMAGE


def _poll(client, execution_id: str, key: str):
    return client.get(f"/v1/workflows/executions/{execution_id}/poll", HTTP_AUTHORIZATION=f"Bearer {key}")


def _queries(client, path: str, key: str) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}")
    return response.status_code, len(queries)


def test_a_cached_key_skips_its_row_until_a_change_invalidates_it(world) -> None:
    from django.test import Client

    from api_service.accounts import services
    from api_service.accounts.auth_cache import auth_cache_invalidate
    from api_service.accounts.models import ApiKey, Tenant

    client = Client()
    _queries(client, "/v1/workflows", world.key)  # first use: the row is read, last_used_at written
    status, cold = _queries(client, "/v1/workflows", world.key)
    auth_cache_invalidate()
    status_after, after_change = _queries(client, "/v1/workflows", world.key)
    status_warm, warm = _queries(client, "/v1/workflows", world.key)
    assert status == status_after == status_warm == 200
    assert warm == cold  # served from the cache: the page's query only
    assert after_change == warm + 1  # the generation moved: the key row is read once more

    # Revoking through the services is seen by the very next request.
    services.api_key_revoke(api_key=ApiKey.objects.get(tenant=world.tenant))
    refused = client.get("/v1/workflows", HTTP_AUTHORIZATION=f"Bearer {world.key}")
    assert refused.status_code == 401, refused.content

    # So is a tenant switched off in the admin (its save invalidates), shown with a fresh key.
    from tests.support.factories import make_key

    key = make_key(world.tenant)
    assert client.get("/v1/workflows", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    tenant = Tenant.objects.get(pk=world.tenant.pk)
    tenant.is_active = False
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    site._registry[Tenant].save_model(RequestFactory().post("/"), tenant, None, True)
    assert client.get("/v1/workflows", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_without_redis_every_request_reads_the_key(world) -> None:
    from django.test import Client, override_settings

    from api_service.core import redis as core_redis

    client = Client()
    _queries(client, "/v1/workflows", world.key)
    _, warm = _queries(client, "/v1/workflows", world.key)
    try:
        with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):  # nothing listens there
            core_redis.redis_client.cache_clear()
            status, down = _queries(client, "/v1/workflows", world.key)
    finally:
        core_redis.redis_client.cache_clear()
    assert status == 200  # the rate limiter fails open, and authentication reads the row
    assert down == warm + 1


def test_presigned_urls_are_reused_while_most_of_their_life_remains(db) -> None:
    from django.conf import settings

    from api_service.core import storage

    first = storage.object_presigned_url(key="executions/x/attempt-1/1/a.png")
    assert storage.object_presigned_url(key="executions/x/attempt-1/1/a.png") == first
    assert storage.object_presigned_url(key="executions/x/attempt-1/1/b.png") != first
    # Another lifetime is another URL; a URL older than a third of its lifetime is minted again.
    assert storage.object_presigned_url(key="executions/x/attempt-1/1/a.png", expires_in=60) != first
    slot = (settings.S3_PUBLIC_ENDPOINT_URL, settings.S3_BUCKET, "executions/x/attempt-1/1/a.png", 60)
    url, minted = storage._urls[slot]
    assert url != first
    storage._urls[slot] = (url, minted - 21)
    storage.object_presigned_url(key="executions/x/attempt-1/1/a.png", expires_in=60)
    assert storage._urls[slot][1] > minted - 21  # minted again (the text may match within one second)


def test_poll_applies_the_outcome_its_worker_recorded(world) -> None:
    """No control worker runs here: the outcome reaches the row through the poll alone, once."""
    from django.test import Client
    from django.utils import timezone

    from api_service.core.redis import redis_client
    from api_service.webhooks.models import WebhookDelivery
    from api_service.workflows.models import Execution, ExecutionStatus, Workflow
    from protocol import leases

    workflow = Workflow.objects.create(tenant=world.tenant, name="w", graph=TEXT_TO_IMAGE)
    execution = Execution.objects.create(
        tenant=world.tenant,
        workflow=workflow,
        graph=TEXT_TO_IMAGE,
        status=ExecutionStatus.RUNNING,
        attempt=2,
        started_at=timezone.now(),
        webhook_url="https://example.com/hook",
    )
    client = Client()
    assert _poll(client, execution.pk, world.key).json()["status"] == "RUNNING"
    key = leases.OUTCOME_KEY.format(execution_id=execution.pk)
    stale = {"type": "completed", "executionId": execution.pk, "attempt": 1, "outputs": {"9": {"x": [1]}}}
    redis_client().set(key, json.dumps(stale), ex=60)
    assert _poll(client, execution.pk, world.key).json()["status"] == "RUNNING"  # an older attempt's

    outcome = {
        "type": "completed",
        "executionId": execution.pk,
        "attempt": 2,
        "at": timezone.now().isoformat(),
        "durationMs": 5,
        "outputs": {"9": {"text": ["done"]}},
    }
    redis_client().set(key, json.dumps(outcome), ex=60)
    body = _poll(client, execution.pk, world.key).json()
    assert body["status"] == "COMPLETED"
    assert body["outputs"] == {"9": {"text": ["done"]}}
    assert body["durationMs"] == 5
    execution.refresh_from_db()
    assert execution.started_at is not None and execution.completed_at is not None
    assert execution.started_at < execution.completed_at
    assert _poll(client, execution.pk, world.key).json()["status"] == "COMPLETED"
    # The state change happened once: one completion webhook, whoever applied it.
    from api_service.workflows import services

    assert services.execution_apply_event(event=outcome) is False
    assert (
        WebhookDelivery.objects.filter(execution_id=execution.pk, event_type="execution.completed").count()
        == 1
    )


def test_poll_leaves_a_hand_back_to_the_control_worker(world) -> None:
    from django.test import Client

    from api_service.core.redis import redis_client
    from api_service.workflows.models import Execution, ExecutionStatus, Workflow
    from protocol import leases

    workflow = Workflow.objects.create(tenant=world.tenant, name="w", graph=TEXT_TO_IMAGE)
    execution = Execution.objects.create(
        tenant=world.tenant, workflow=workflow, graph=TEXT_TO_IMAGE, status=ExecutionStatus.RUNNING
    )
    handed_back = {"type": "handed_back", "executionId": execution.pk, "attempt": 1}
    redis_client().set(leases.OUTCOME_KEY.format(execution_id=execution.pk), json.dumps(handed_back), ex=60)
    assert _poll(Client(), execution.pk, world.key).json()["status"] == "RUNNING"
    execution.refresh_from_db()
    assert execution.attempt == 1


def test_an_outcome_applied_before_started_keeps_when_the_run_began(world) -> None:
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from api_service.core.redis import redis_client
    from api_service.workflows.models import Execution, Workflow
    from protocol import leases

    workflow = Workflow.objects.create(tenant=world.tenant, name="w", graph=TEXT_TO_IMAGE)
    execution = Execution.objects.create(tenant=world.tenant, workflow=workflow, graph=TEXT_TO_IMAGE)
    ended = timezone.now()
    outcome = {"type": "completed", "executionId": execution.pk, "attempt": 1, "at": ended.isoformat()}
    outcome |= {"durationMs": 5000, "outputs": {}}
    redis_client().set(leases.OUTCOME_KEY.format(execution_id=execution.pk), json.dumps(outcome), ex=60)
    assert _poll(Client(), execution.pk, world.key).json()["status"] == "COMPLETED"
    execution.refresh_from_db()
    assert execution.completed_at == ended
    assert execution.started_at == ended - timedelta(seconds=5)
