"""Completion webhooks through the live api and control worker, to real receivers on 127.0.0.1.

Executions here are rows no gpu worker sees: the test applies the worker's events through the real
state machine, and the control worker delivers what that records.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from protocol.messages import COMPLETED, FAILED, STARTED
from tests.support.graphs import TEXT_TO_IMAGE
from tests.support.receiver import Answer, receiver
from tests.support.webhooks import delivery_settled, eventually, quiet_execution, verify, worker_event

OUTPUTS = {"9": {"images": [{"key": "tenants/x/executions/y/out.png", "width": 64, "height": 48}]}}


def register(api, url: str, **fields) -> dict:
    response = api.post("/v1/webhook-endpoints", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(api, execution_id: str) -> list[dict]:
    response = api.get(f"/v1/workflows/executions/{execution_id}/webhooks")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def settled_completion(api, tenant, rx, *, requests: int) -> dict:
    """A quiet execution of the tenant completes; once `rx` got `requests` requests and the one delivery
    it caused has settled, that delivery as the api lists it."""
    execution = quiet_execution(tenant)
    worker_event(execution, COMPLETED, outputs={})
    rx.wait_for(requests)
    (delivery,) = deliveries(api, execution.id)
    delivery_settled(delivery["id"])
    (delivery,) = deliveries(api, execution.id)
    return delivery


def test_endpoints_crud_and_the_secret_is_shown_once(api) -> None:
    created = register(api, "http://127.0.0.1:9/hook", description="orders")
    assert created["id"].startswith("whe_") and created["secret"].startswith("whsec_")
    assert created["events"] == ["execution.completed", "execution.failed", "execution.cancelled"]
    assert created["enabled"] is True
    fetched = api.get(f"/v1/webhook-endpoints/{created['id']}").json()
    assert "secret" not in fetched and fetched["secretHint"] == created["secret"][:10] + "…"
    listed = api.get("/v1/webhook-endpoints").json()
    assert [e["id"] for e in listed["items"]] == [created["id"]]
    patched = api.patch(f"/v1/webhook-endpoints/{created['id']}", json={"events": ["execution.started"]})
    assert patched.status_code == 200 and patched.json()["events"] == ["execution.started"]
    bad = api.patch(f"/v1/webhook-endpoints/{created['id']}", json={"events": ["execution.exploded"]})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request"
    assert api.delete(f"/v1/webhook-endpoints/{created['id']}").status_code == 204
    assert api.get(f"/v1/webhook-endpoints/{created['id']}").status_code == 404
    assert api.get("/v1/webhook-endpoints").json()["items"] == []


def test_webhook_scopes_are_required(api, world, stack) -> None:
    from tests.support.api import ApiClient
    from tests.support.factories import make_key

    reader = ApiClient(stack.base_url, make_key(world.tenant, ["webhooks:read"]))
    assert reader.get("/v1/webhook-endpoints").status_code == 200
    refused = reader.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/"})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "insufficient_scope"
    outsider = ApiClient(stack.base_url, make_key(world.tenant, ["workflows:read"]))
    assert outsider.get("/v1/webhook-secret").status_code == 403


SSRF_URLS = [
    "http://localhost:8080/hook",  # a name that resolves to loopback
    "http://127.0.0.2/hook",
    "http://[::1]/hook",
    "http://10.0.0.1/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://127.1/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "https://example.com:6379/",
    "http://127.0.0.1.nip.io.invalid/",  # does not resolve
]


@pytest.mark.parametrize("url", SSRF_URLS)
def test_every_ssrf_url_is_refused_at_registration(api, url: str) -> None:
    response = api.post("/v1/webhook-endpoints", json={"url": url})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "webhook_url_not_allowed" and error["field"] == "url"


def test_ssrf_urls_are_refused_as_execution_and_workflow_webhooks_too(api) -> None:
    workflow = api.create_workflow(TEXT_TO_IMAGE)
    for url in ("http://localhost/x", "http://169.254.169.254/", "http://0x7f.1/"):
        execute = api.post(f"/v1/workflows/{workflow['id']}/execute", json={"webhookUrl": url})
        assert execute.status_code == 400 and execute.json()["error"]["field"] == "webhookUrl", execute.text
        saved = api.patch(f"/v1/workflows/{workflow['id']}", json={"webhookUrl": url})
        assert saved.status_code == 400 and saved.json()["error"]["type"] == "webhook_url_not_allowed"
    assert api.get(f"/v1/workflows/{workflow['id']}/executions").json()["items"] == []


def test_a_completed_execution_is_delivered_signed_with_the_poll_answer(api, world) -> None:
    with receiver() as rx:
        endpoint = register(api, rx.url)
        execution = quiet_execution(world.tenant)
        assert worker_event(execution, STARTED, worker="gpu@test")
        assert worker_event(execution, COMPLETED, outputs=OUTPUTS, durationMs=12)
        (request,) = rx.wait_for(1)
        payload = verify(endpoint["secret"], request)
        (delivery,) = deliveries(api, execution.id)
        delivery_settled(delivery["id"])
        (delivery,) = deliveries(api, execution.id)
    assert payload["type"] == "execution.completed"
    assert payload["data"]["executionId"] == execution.id and payload["data"]["status"] == "COMPLETED"
    assert payload["data"]["durationMs"] == 12
    image = payload["data"]["outputs"]["9"]["images"][0]
    assert image["url"].startswith("http") and "X-Amz-Signature" in image["url"]
    assert request.headers["webhook-id"] == delivery["id"] and delivery["id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    assert delivery["status"] == "SUCCEEDED" and delivery["endpointId"] == endpoint["id"]
    (attempt,) = delivery["attempts"]
    assert (attempt["number"], attempt["statusCode"], attempt["succeeded"], attempt["response"]) == (
        1,
        200,
        True,
        "ok",
    )
    assert attempt["latencyMs"] is not None


def test_event_filters_and_workflow_filters(api, world) -> None:
    from api_service.workflows.models import Workflow

    other = Workflow.objects.create(tenant=world.tenant, name="other", graph=TEXT_TO_IMAGE)
    with receiver() as started_rx, receiver() as terminal_rx, receiver() as other_rx:
        register(api, started_rx.url, events=["execution.started"])
        register(api, terminal_rx.url)
        register(api, other_rx.url, events=["execution.started", "execution.failed"], workflowId=other.id)
        execution = quiet_execution(world.tenant)
        worker_event(execution, STARTED)
        worker_event(execution, FAILED, error={"type": "node_error", "nodeId": "3", "message": "boom"})
        (started,) = started_rx.wait_for(1)
        (failed,) = terminal_rx.wait_for(1)
        settled = eventually(lambda: all(d["status"] != "PENDING" for d in deliveries(api, execution.id)))
        assert settled
        assert other_rx.requests == []
    assert json.loads(started.body)["type"] == "execution.started"
    body = json.loads(failed.body)
    assert body["type"] == "execution.failed" and body["data"]["error"]["nodeId"] == "3"
    assert len(deliveries(api, execution.id)) == 2


def test_a_receiver_that_fails_then_recovers_gets_the_event_with_the_same_webhook_id(api, world) -> None:
    answers = [Answer(status=500, body=b"oops"), Answer(status=502), Answer(status=200)]
    with receiver(lambda n: answers[min(n, 2)]) as rx:
        endpoint = register(api, rx.url)
        execution = quiet_execution(world.tenant)
        worker_event(execution, COMPLETED, outputs={})
        requests = rx.wait_for(3)
        (delivery,) = deliveries(api, execution.id)
        delivery_settled(delivery["id"])
        (delivery,) = deliveries(api, execution.id)
    assert {r.headers["webhook-id"] for r in requests} == {delivery["id"]}
    for request in requests:
        verify(endpoint["secret"], request)
    assert delivery["status"] == "SUCCEEDED"
    assert [(a["statusCode"], a["succeeded"]) for a in delivery["attempts"]] == [
        (500, False),
        (502, False),
        (200, True),
    ]
    assert (
        delivery["attempts"][0]["response"] == "oops" and delivery["attempts"][0]["errorClass"] == "http_500"
    )
    assert all(a["retryInSeconds"] >= 1 for a in delivery["attempts"][:2])
    assert api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()["enabled"] is True


def test_a_redirect_is_a_failure_and_is_never_followed(api, world) -> None:
    with receiver() as target, receiver(lambda n: Answer(status=302, headers={"Location": target.url})) as rx:
        endpoint = register(api, rx.url)
        delivery = settled_completion(api, world.tenant, rx, requests=4)
        assert target.requests == []
    assert delivery["status"] == "FAILED"
    assert [a["errorClass"] for a in delivery["attempts"]] == ["redirect"] * 4
    # Failing for its whole retry schedule with no success since: ops and the customer see why.
    endpoint = api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()
    assert endpoint["enabled"] is False and "failed" in endpoint["disabledReason"]


def test_410_disables_the_endpoint_at_once(api, world) -> None:
    with receiver(lambda n: Answer(status=410)) as rx:
        endpoint = register(api, rx.url)
        execution = quiet_execution(world.tenant)
        worker_event(execution, COMPLETED, outputs={})
        rx.wait_for(1)
        (delivery,) = deliveries(api, execution.id)
        delivery_settled(delivery["id"])
        later = quiet_execution(world.tenant)
        worker_event(later, COMPLETED, outputs={})
    (delivery,) = deliveries(api, execution.id)
    assert delivery["status"] == "FAILED" and len(delivery["attempts"]) == 1
    endpoint = api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()
    assert endpoint["enabled"] is False and "410" in endpoint["disabledReason"]
    assert deliveries(api, later.id) == []  # a disabled endpoint is not sent anything more
    redeliver = api.post(f"/v1/webhook-deliveries/{delivery['id']}/redeliver")
    assert redeliver.status_code == 409 and redeliver.json()["error"]["type"] == "endpoint_disabled"


def test_a_slow_receiver_times_out_and_a_huge_answer_is_read_only_in_part(api, world) -> None:
    answers = [Answer(delay=4), Answer(body=b"x" * (10 * 2**20))]
    with receiver(lambda n: answers[min(n, 1)]) as rx:
        register(api, rx.url)
        delivery = settled_completion(api, world.tenant, rx, requests=2)
    first, second = delivery["attempts"]
    assert (first["errorClass"], first["statusCode"]) == ("timeout", None)
    assert second["succeeded"] and second["response"] == "x" * 1024


def test_retry_after_is_honoured_on_429_and_503(api, world) -> None:
    answers = [
        Answer(status=503, headers={"Retry-After": "3"}),
        Answer(status=429, headers={"Retry-After": "2"}),
    ]
    with receiver(lambda n: answers[n] if n < 2 else Answer()) as rx:
        register(api, rx.url)
        delivery = settled_completion(api, world.tenant, rx, requests=3)
    assert [a["retryInSeconds"] for a in delivery["attempts"]] == [3.0, 2.0, None]
    assert delivery["status"] == "SUCCEEDED"


def test_rotation_signs_with_both_secrets_during_the_window_then_only_the_new_one(api, world) -> None:
    from standardwebhooks import WebhookVerificationError

    with receiver() as rx:
        endpoint = register(api, rx.url)
        rotated = api.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", json={"expiresInSeconds": 3600}
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        first = quiet_execution(world.tenant)
        worker_event(first, COMPLETED, outputs={})
        (during,) = rx.wait_for(1)
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        verify(endpoint["secret"], during)
        verify(new_secret, during)
        again = api.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", json={"expiresInSeconds": 0}
        )
        newest = again.json()["secret"]
        second = quiet_execution(world.tenant)
        worker_event(second, COMPLETED, outputs={})
        after = rx.wait_for(2)[1]
    verify(newest, after)
    for old in (endpoint["secret"], new_secret):
        with pytest.raises(WebhookVerificationError):
            verify(old, after)
    too_long = api.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", json={"expiresInSeconds": 10**7}
    )
    assert too_long.status_code == 400


@pytest.mark.parametrize(
    "url", ["http://localhost/hook", "http://2130706433/", "http://169.254.169.254/", "http://[::1]/"]
)
def test_a_url_that_turned_private_is_refused_at_delivery(api, world, url: str) -> None:
    """As if DNS changed after registration: the check runs again on every attempt."""
    from api_service.webhooks.models import WebhookEndpoint

    with receiver() as rx:
        endpoint = register(api, rx.url)
        WebhookEndpoint.objects.filter(pk=endpoint["id"]).update(url=url)
        execution = quiet_execution(world.tenant)
        worker_event(execution, COMPLETED, outputs={})
        (delivery,) = deliveries(api, execution.id)
        delivery_settled(delivery["id"])
        assert rx.requests == []
    (delivery,) = deliveries(api, execution.id)
    assert delivery["status"] == "FAILED"
    assert {a["errorClass"] for a in delivery["attempts"]} == {"address_not_allowed"}


def test_redelivery_sends_the_same_webhook_id_again(api, world) -> None:
    with receiver() as rx:
        endpoint = register(api, rx.url)
        execution = quiet_execution(world.tenant)
        worker_event(execution, COMPLETED, outputs={})
        rx.wait_for(1)
        (delivery,) = deliveries(api, execution.id)
        delivery_settled(delivery["id"])
        response = api.post(f"/v1/webhook-deliveries/{delivery['id']}/redeliver")
        assert response.status_code == 202, response.text
        first, second = rx.wait_for(2)
        delivery_settled(delivery["id"])
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["id"]
    verify(endpoint["secret"], second)
    (delivery,) = deliveries(api, execution.id)
    assert [a["number"] for a in delivery["attempts"]] == [1, 2] and delivery["status"] == "SUCCEEDED"
    assert api.post("/v1/webhook-deliveries/msg_nope/redeliver").status_code == 404


def test_the_workflow_default_url_is_told_of_a_cancel_signed_with_the_tenant_secret(api, world) -> None:
    from api_service.workflows.models import Workflow

    with receiver() as rx:
        created = api.create_workflow(TEXT_TO_IMAGE)
        patched = api.patch(f"/v1/workflows/{created['id']}", json={"webhookUrl": rx.url})
        assert patched.status_code == 200 and patched.json()["webhookUrl"] == rx.url
        execution = quiet_execution(world.tenant, workflow=Workflow.objects.get(pk=created["id"]))
        assert api.post(f"/v1/workflows/executions/{execution.id}/cancel").status_code == 200
        (request,) = rx.wait_for(1)
        first = api.get("/v1/webhook-secret").json()
        second = api.get("/v1/webhook-secret").json()
    assert first["secret"].startswith("whsec_") and second["secret"] is None
    assert second["secretHint"] == first["secret"][:10] + "…"
    payload = verify(first["secret"], request)
    assert payload["type"] == "execution.cancelled" and payload["data"]["status"] == "CANCELLED"
    rotated = api.post("/v1/webhook-secret/rotate", json={"expiresInSeconds": 0}).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != first["secret"]


def test_a_delivery_whose_publish_was_lost_or_whose_sender_died_is_sent_by_the_sweeper(api, world) -> None:
    from django.db import transaction
    from django.utils import timezone

    from api_service.webhooks.models import WebhookDelivery
    from api_service.webhooks.services import deliveries_sweep

    with receiver() as rx:
        register(api, rx.url)
        execution = quiet_execution(world.tenant)
        # As if the process died between the commit and the publish: the row exists, no message does.
        endpoint_id = api.get("/v1/webhook-endpoints").json()["items"][0]["id"]
        long_ago = timezone.now() - timedelta(minutes=5)
        with transaction.atomic():
            lost = WebhookDelivery.objects.create(
                tenant=world.tenant,
                execution=execution,
                endpoint_id=endpoint_id,
                url=rx.url,
                event_type="execution.completed",
                occurred_at=long_ago,
                next_attempt_at=long_ago,
            )
            # A worker claimed this one, then was killed mid-send: its claim has lapsed.
            orphan = WebhookDelivery.objects.create(
                tenant=world.tenant,
                execution=execution,
                endpoint_id=endpoint_id,
                url=rx.url,
                event_type="execution.started",
                occurred_at=long_ago,
                next_attempt_at=long_ago,
                published_at=long_ago,
                locked_until=timezone.now() - timedelta(seconds=1),
            )
            # Published a moment ago, its message still queued behind others: the sweeper leaves it be.
            queued = WebhookDelivery.objects.create(
                tenant=world.tenant,
                execution=execution,
                endpoint_id=endpoint_id,
                url=rx.url,
                event_type="execution.failed",
                occurred_at=long_ago,
                next_attempt_at=long_ago,
                published_at=timezone.now(),
            )
        assert deliveries_sweep() >= 2
        received = rx.wait_for(2)
        # Not republished: its publish mark is the one it had (a publish would have moved it).
        assert WebhookDelivery.objects.get(pk=queued.pk).published_at == queued.published_at
        WebhookDelivery.objects.filter(pk=queued.pk).update(status="SKIPPED")
        delivery_settled(lost.id)
        delivery_settled(orphan.id)
    assert {r.headers["webhook-id"] for r in received} == {lost.id, orphan.id}
    assert {json.loads(r.body)["type"] for r in received} == {"execution.completed", "execution.started"}


@pytest.mark.e2e
def test_a_real_run_tells_its_webhook_url_and_a_dead_receiver_does_not_hold_it_up(api) -> None:
    """Through the gpu worker: started and completed arrive signed, with a downloadable image."""
    with receiver() as dead:
        dead_url = dead.url  # closed once this block ends: connection refused from then on
    register(api, dead_url, events=["execution.completed"])
    workflow = api.create_workflow(TEXT_TO_IMAGE)
    with receiver() as rx:
        response = api.post(
            f"/v1/workflows/{workflow['id']}/execute",
            json={"webhookUrl": rx.url, "webhookEvents": ["execution.started", "execution.completed"]},
        )
        assert response.status_code == 202, response.text
        execution_id = response.json()["executionId"]
        assert api.wait(execution_id)["status"] == "COMPLETED"
        requests_seen = rx.wait_for(2)
        secret = api.get("/v1/webhook-secret").json()["secret"]
    payloads = sorted(
        (verify(secret, r) for r in requests_seen), key=lambda p: p["type"] != "execution.started"
    )
    assert [p["type"] for p in payloads] == ["execution.started", "execution.completed"]
    image = payloads[1]["data"]["outputs"]["9"]["images"][0]
    downloaded = requests.get(image["url"], timeout=30)
    assert downloaded.status_code == 200 and downloaded.content[:8] == b"\x89PNG\r\n\x1a\n"

    def dead_attempts() -> list[dict]:
        return next(d for d in deliveries(api, execution_id) if d["url"] == dead_url)["attempts"]

    attempts = eventually(dead_attempts, what="an attempt at the dead receiver")
    assert attempts[0]["errorClass"] == "connection_refused"


def test_a_webhooks_worker_killed_mid_delivery_loses_no_event(api, world, stack) -> None:
    """SIGKILL while the receiver holds the request: the claim lapses, and the event goes out again."""
    import os
    import signal

    from django.utils import timezone

    from api_service.celery import app
    from api_service.core.redis import redis_client
    from api_service.webhooks.models import WebhookDelivery
    from api_service.webhooks.services import deliveries_sweep
    from api_service.webhooks.slots import slot_keys
    from deploy.processes import wait_for

    sender = next(m for m in stack.group.members if m.name == "webhooks")
    with receiver(lambda n: Answer(delay=1.5) if n == 0 else Answer()) as rx:
        endpoint = register(api, rx.url)
        execution = quiet_execution(world.tenant)
        worker_event(execution, COMPLETED, outputs={})
        (first,) = rx.wait_for(1)
        os.killpg(sender.process.pid, signal.SIGKILL)  # mid-send: no attempt gets recorded
        sender.process.wait(10)
        sender.start()
        wait_for(
            lambda: any(
                "webhooks@" in name for reply in app.control.ping(timeout=1.0) or [] for name in reply
            ),
            timeout=90,
            interval=1.0,
            what="restarted webhooks worker",
        )
        (delivery,) = WebhookDelivery.objects.filter(execution=execution)
        assert (delivery.status, delivery.attempt_count) == ("PENDING", 0)
        assert delivery.locked_until is not None
        # Time passes until the dead worker's claim lapses, and with it the receiver's concurrency slot
        # it held (both expire on their own); then the beat sweeper finds the row.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            locked_until=timezone.now() - timedelta(seconds=1),
            next_attempt_at=timezone.now() - timedelta(minutes=5),
            published_at=timezone.now() - timedelta(minutes=5),
        )
        redis_client().delete(*slot_keys(endpoint["id"]))
        assert deliveries_sweep() >= 1
        second = rx.wait_for(2)[1]
        delivery_settled(delivery.pk)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.pk
    verify(endpoint["secret"], second)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "SUCCEEDED"


def test_a_slow_receiver_does_not_hold_up_another_endpoints_deliveries(api, world) -> None:
    """One request in flight per receiver (the test env's setting): the slow one waits its turn alone."""
    with receiver(lambda n: Answer(delay=1.2)) as slow, receiver() as fast:
        register(api, slow.url)
        executions = [quiet_execution(world.tenant) for _ in range(6)]
        for execution in executions:
            worker_event(execution, COMPLETED, outputs={})
        other = register_other_tenant_endpoint(api, fast.url)
        for execution in other["executions"]:
            worker_event(execution, COMPLETED, outputs={})
        fast.wait_for(3)
        # The six slow deliveries take at least 7 s one after another; the other tenant's are all in.
        assert len(slow.requests) < 6
        slow.wait_for(6, timeout=120)
    assert len({r.headers["webhook-id"] for r in slow.requests}) == 6


def register_other_tenant_endpoint(api, url: str) -> dict:
    from tests.support.api import ApiClient
    from tests.support.factories import make_key, make_tenant

    tenant = make_tenant()
    client = ApiClient(api.base_url, make_key(tenant))
    endpoint = register(client, url)
    return {"endpoint": endpoint, "executions": [quiet_execution(tenant) for _ in range(3)]}


def test_a_restricted_key_sees_and_creates_endpoints_only_for_its_workflows_and_redelivers_only_theirs(
    api, world, stack
) -> None:
    from django.utils import timezone

    from api_service.accounts import services
    from api_service.accounts.models import ApiKey
    from api_service.webhooks.models import WebhookDelivery
    from api_service.workflows.models import Workflow
    from tests.support.api import ApiClient

    mine = api.create_workflow(TEXT_TO_IMAGE, name="mine")
    other = api.create_workflow(TEXT_TO_IMAGE, name="other")
    everything = register(api, "http://127.0.0.1:9/all")
    others = register(api, "http://127.0.0.1:9/other", workflowId=other["id"])
    created = services.api_key_create(
        tenant=world.tenant, name="only mine", scopes=["webhooks:read", "webhooks:write"]
    )
    ApiKey.objects.filter(pk=created.api_key.pk).update(allowed_workflow_ids=[mine["id"]])
    narrow = ApiClient(stack.base_url, created.secret)

    refused = narrow.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/x"})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "workflow_restricted"
    assert "workflowId" in refused.json()["error"]["message"]
    hidden = narrow.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/x", "workflowId": other["id"]}
    )
    assert hidden.status_code == 404
    own = register(narrow, "http://127.0.0.1:9/mine", workflowId=mine["id"])
    assert [e["id"] for e in narrow.get("/v1/webhook-endpoints").json()["items"]] == [own["id"]]
    for endpoint in (everything, others):
        path = f"/v1/webhook-endpoints/{endpoint['id']}"
        assert narrow.get(path).status_code == 404
        assert narrow.patch(path, json={"url": "http://127.0.0.1:9/stolen"}).status_code == 404
        assert narrow.delete(path).status_code == 404
        assert narrow.post(f"{path}/rotate-secret", json={}).status_code == 404
    widened = narrow.patch(f"/v1/webhook-endpoints/{own['id']}", json={"workflowId": None})
    assert widened.status_code == 403 and widened.json()["error"]["type"] == "workflow_restricted"
    assert narrow.patch(f"/v1/webhook-endpoints/{own['id']}", json={"description": "ok"}).status_code == 200
    assert api.get(f"/v1/webhook-endpoints/{everything['id']}").json()["url"] == "http://127.0.0.1:9/all"
    assert len(api.get("/v1/webhook-endpoints").json()["items"]) == 3

    now = timezone.now()
    rows = {}
    for workflow in (mine, other):
        execution = quiet_execution(world.tenant, workflow=Workflow.objects.get(pk=workflow["id"]))
        rows[workflow["id"]] = WebhookDelivery.objects.create(
            tenant=world.tenant,
            execution=execution,
            url="http://127.0.0.1:9/d",
            event_type="execution.completed",
            occurred_at=now,
            next_attempt_at=now,
            status="FAILED",
            completed_at=now,
        )
    assert narrow.post(f"/v1/webhook-deliveries/{rows[other['id']].id}/redeliver").status_code == 404
    assert (
        narrow.get(f"/v1/workflows/executions/{rows[other['id']].execution_id}/webhooks").status_code == 404
    )
    assert narrow.post(f"/v1/webhook-deliveries/{rows[mine['id']].id}/redeliver").status_code == 202
    assert [d["id"] for d in deliveries(narrow, rows[mine["id"]].execution_id)] == [rows[mine["id"]].id]


def test_the_tenant_secret_is_refused_to_a_restricted_key_and_a_read_key_does_not_use_up_its_reveal(
    api, world, stack
) -> None:
    from api_service.accounts import services
    from api_service.accounts.models import ApiKey
    from tests.support.api import ApiClient
    from tests.support.factories import make_key

    mine = api.create_workflow(TEXT_TO_IMAGE, name="mine")
    created = services.api_key_create(
        tenant=world.tenant, name="only mine", scopes=["webhooks:read", "webhooks:write"]
    )
    ApiKey.objects.filter(pk=created.api_key.pk).update(allowed_workflow_ids=[mine["id"]])
    narrow = ApiClient(stack.base_url, created.secret)
    for response in (narrow.get("/v1/webhook-secret"), narrow.post("/v1/webhook-secret/rotate", json={})):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["type"] == "workflow_restricted"
        assert "unrestricted key" in response.json()["error"]["message"]

    reader = ApiClient(stack.base_url, make_key(world.tenant, ["webhooks:read"]))
    masked = [reader.get("/v1/webhook-secret").json() for _ in range(2)]
    assert [(m["secret"], m["revealed"]) for m in masked] == [(None, False), (None, False)]
    shown = api.get("/v1/webhook-secret").json()
    assert shown["secret"].startswith("whsec_") and shown["revealed"] is True
    assert shown["secretHint"] == masked[0]["secretHint"] == shown["secret"][:10] + "…"
    again = api.get("/v1/webhook-secret").json()
    assert again["secret"] is None and again["revealed"] is True


def test_an_attempt_whose_claim_was_taken_over_records_nothing(api, world) -> None:
    """The claim lapsed mid-send and another worker claimed the row: only that worker records an attempt."""
    from django.utils import timezone

    from api_service.webhooks.delivery import delivery_attempt
    from api_service.webhooks.models import WebhookAttempt, WebhookDelivery

    def take_over(n: int) -> Answer:
        # While our request is in flight, as if our claim lapsed and a second worker took the row.
        WebhookDelivery.objects.filter(pk=row.pk).update(locked_until=timezone.now() + timedelta(minutes=5))
        return Answer()

    with receiver(take_over) as rx:
        endpoint_id = register(api, rx.url)["id"]
        execution = quiet_execution(world.tenant)
        now = timezone.now()
        row = WebhookDelivery.objects.create(
            tenant=world.tenant,
            execution=execution,
            endpoint_id=endpoint_id,
            url=rx.url,
            event_type="execution.completed",
            occurred_at=now,
            next_attempt_at=now,
        )
        assert delivery_attempt(delivery_id=row.pk) == "claim_lost"
    assert len(rx.requests) == 1
    assert not WebhookAttempt.objects.filter(delivery_id=row.pk).exists()
    row.refresh_from_db()
    assert (row.status, row.attempt_count) == ("PENDING", 0)


def test_ad_hoc_urls_share_their_receivers_slots_whatever_the_query_string(api, world) -> None:
    """A per-execution webhookUrl takes a slot of its origin: a new query string is not a new receiver."""
    from django.conf import settings
    from django.utils import timezone

    from api_service.webhooks import slots
    from api_service.webhooks.delivery import delivery_attempt
    from api_service.webhooks.models import WebhookDelivery
    from api_service.webhooks.services import signing_secret_ensure

    signing_secret_ensure(tenant=world.tenant)  # ad-hoc URLs are signed with the tenant's secret
    with receiver() as rx:
        targets = [slots.slot_target(endpoint_id=None, url=f"{rx.url}?n={i}") for i in range(9)]
        held = [
            slots.slot_acquire(target=targets[i], hold_seconds=60)
            for i in range(settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT)
        ]
        try:
            assert all(slot is not None for slot in held)
            now = timezone.now()
            row = WebhookDelivery.objects.create(
                tenant=world.tenant,
                execution=quiet_execution(world.tenant),
                url=f"{rx.url}?other=query",
                event_type="execution.completed",
                occurred_at=now,
                next_attempt_at=now,
            )
            assert delivery_attempt(delivery_id=row.pk) == "deferred"
        finally:
            for slot in held:
                if slot is not None:
                    slots.slot_release(slot)
        delivery_settled(row.pk)  # once the slots are free, the deferred delivery goes out
    (request,) = rx.requests
    assert request.path == "/hook?other=query"
    assert slots.slot_target(endpoint_id=None, url="HTTP://Example.com/a?x=1") == slots.slot_target(
        endpoint_id=None, url="http://example.com:80/b"
    )


def test_execution_events_do_not_wait_behind_slow_deliveries(api, world, stack) -> None:
    """Deliveries have their own worker: while slow receivers keep it busy, the control worker applies a
    gpu worker's event, sent through the broker as the gpu worker sends it."""
    from api_service.celery import app
    from api_service.workflows.models import Execution
    from protocol.messages import APPLY_EVENT_TASK, CONTROL_QUEUE

    queues = {
        worker.split("@")[0]: {q["name"] for q in found}
        for worker, found in (app.control.inspect(timeout=2.0).active_queues() or {}).items()
    }
    assert queues["control"] == {"control"} and queues["webhooks"] == {"webhooks"}
    with receiver(lambda n: Answer(delay=5)) as slow_a, receiver(lambda n: Answer(delay=5)) as slow_b:
        register(api, slow_a.url)
        register(api, slow_b.url)
        for execution in [quiet_execution(world.tenant) for _ in range(3)]:
            worker_event(execution, COMPLETED, outputs={})
        slow_a.wait_for(1)
        slow_b.wait_for(1)  # both webhooks processes are now waiting on a receiver
        execution = quiet_execution(world.tenant)
        event = {"type": STARTED, "executionId": execution.id, "attempt": execution.attempt, "worker": "g"}
        app.send_task(APPLY_EVENT_TASK, args=[event], queue=CONTROL_QUEUE)
        eventually(lambda: Execution.objects.get(pk=execution.pk).status == "RUNNING", what="RUNNING")
        # Applied while the deliveries were still going on: three per receiver, two seconds each.
        assert len(slow_a.requests) + len(slow_b.requests) < 6
        slow_a.wait_for(3, timeout=120)
        slow_b.wait_for(3, timeout=120)


def test_a_receiver_that_drips_its_answer_is_a_timeout_attempt(api, world) -> None:
    """One byte every half second never trips a socket timeout; the wall-clock deadline ends the attempt."""
    answers = [Answer(body=b"x" * 40, drip=0.5), Answer()]
    with receiver(lambda n: answers[min(n, 1)]) as rx:
        register(api, rx.url)
        delivery = settled_completion(api, world.tenant, rx, requests=2)
    first, second = delivery["attempts"]
    assert (first["errorClass"], first["statusCode"], first["succeeded"]) == ("timeout", None, False)
    assert second["succeeded"] and delivery["status"] == "SUCCEEDED"
