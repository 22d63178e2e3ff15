"""Quotas, rate limits, concurrency limits and Idempotency-Key: under concurrency, across processes."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.support.api import ApiClient
from tests.support.factories import make_key, make_tenant
from tests.support.graphs import TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS, text_to_image
from tests.support.load import concurrent_requests

JSON = {"Content-Type": "application/json"}


def client_for(stack, **tenant_fields) -> tuple[ApiClient, Any, str]:
    tenant = make_tenant(**tenant_fields)
    key = make_key(tenant)
    return ApiClient(stack.base_url, key), tenant, key


def test_idempotent_execute_replays_byte_for_byte(stack, db) -> None:
    from api_service.workflows.models import Execution

    api, tenant, _ = client_for(stack)
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    url = f"/v1/workflows/{workflow['id']}/execute"
    body = json.dumps({"inputs": {"prompt": "once"}})
    first = api.post(url, data=body, headers={**JSON, "Idempotency-Key": "order-1"})
    again = api.post(url, data=body, headers={**JSON, "Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 202
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Location"] == first.headers["Location"]
    assert Execution.objects.filter(tenant=tenant).count() == 1

    other = api.post(
        url, data=json.dumps({"inputs": {"prompt": "twice"}}), headers={**JSON, "Idempotency-Key": "order-1"}
    )
    assert other.status_code == 422
    assert other.json()["error"]["type"] == "idempotency_key_reused"
    too_long = api.post(url, data=body, headers={**JSON, "Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["type"] == "invalid_idempotency_key"
    assert Execution.objects.filter(tenant=tenant).count() == 1
    api.wait(first.json()["executionId"])


def test_idempotent_workflow_create_and_upload(stack) -> None:
    api, _, _ = client_for(stack)
    body = json.dumps({"name": "w", "graph": TEXT_TO_IMAGE})
    created = [
        api.post("/v1/workflows", data=body, headers={**JSON, "Idempotency-Key": "wf-1"}) for _ in range(2)
    ]
    assert [r.status_code for r in created] == [201, 201]
    assert created[0].content == created[1].content
    assert len(api.get("/v1/workflows").json()["items"]) == 1

    png = requests.get(
        f"{stack.base_url}/static/admin/img/icon-yes.svg", timeout=5
    )  # any bytes; rejected below
    bad = [
        api.post(
            "/v1/files",
            files={"file": ("x.png", png.content, "image/png")},
            headers={"Idempotency-Key": "f-1"},
        )
        for _ in range(2)
    ]
    # A rejected request stores nothing: the retry runs again and is rejected again.
    assert [r.status_code for r in bad] == [400, 400]
    assert "Idempotent-Replayed" not in bad[1].headers


def test_a_rejected_request_does_not_use_up_the_key(stack) -> None:
    api, _, _ = client_for(stack)
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    url = f"/v1/workflows/{workflow['id']}/execute"
    bad = api.post(url, json={"inputs": {"promt": "x"}}, headers={"Idempotency-Key": "k1"})
    assert bad.status_code == 400
    good = api.post(url, json={"inputs": {"promt": "x"}}, headers={"Idempotency-Key": "k1"})
    assert good.status_code == 400  # runs again (not replayed) and fails again


def test_100_concurrent_executes_with_one_key_make_one_execution(stack, db) -> None:
    from api_service.workflows.models import Execution

    api, tenant, key = client_for(stack, requests_per_minute_override=1000)
    workflow = api.create_workflow(TEXT_TO_IMAGE, TEXT_TO_IMAGE_INPUTS)
    body = json.dumps({"inputs": {"seed": 5}}).encode()
    url = f"{stack.base_url}/v1/workflows/{workflow['id']}/execute"
    replies = concurrent_requests(
        [("POST", url, key, {**JSON, "Idempotency-Key": "burst"}, body)] * 100, processes=4
    )
    statuses = sorted({r.status for r in replies})
    assert set(statuses) <= {202, 409}, statuses
    accepted = [r for r in replies if r.status == 202]
    assert accepted, "no request was accepted"
    assert len({r.body for r in accepted}) == 1
    for conflict in (r for r in replies if r.status == 409):
        assert json.loads(conflict.body)["error"]["type"] == "idempotency_in_progress"
        assert conflict.headers["Retry-After"] == "1"
    executions = Execution.objects.filter(tenant=tenant)
    assert executions.count() == 1
    execution_id = json.loads(accepted[0].body)["executionId"]
    assert api.wait(execution_id)["status"] == "COMPLETED"
    received = (
        (stack.log_dir / "gpu.log").read_text().count(f"crucible.gpu.execute[{execution_id}-1] received")
    )
    assert received == 1


def test_quota_of_n_under_ten_times_n_concurrent_executes(stack, db) -> None:
    from api_service.accounts.models import DailyUsage

    quota = 5
    api, tenant, key = client_for(
        stack,
        executions_per_day_override=quota,
        requests_per_minute_override=1000,
        max_concurrent_executions_override=1000,
    )
    workflow = api.create_workflow(text_to_image(**{"3": {"steps": 1}}))
    url = f"{stack.base_url}/v1/workflows/{workflow['id']}/execute"
    replies = concurrent_requests([("POST", url, key, JSON, b"{}")] * (10 * quota), processes=4)
    assert sorted(r.status for r in replies) == [202] * quota + [429] * (9 * quota)
    for rejected in (r for r in replies if r.status == 429):
        error = json.loads(rejected.body)["error"]
        assert error["type"] == "quota_exceeded"
        assert int(rejected.headers["Retry-After"]) > 0
    assert DailyUsage.objects.get(tenant=tenant).executions == quota
    usage = api.get("/v1/usage").json()
    assert usage["executions"]["today"] == quota
    assert usage["executions"]["remainingToday"] == 0
    assert usage["workflows"][0]["workflowId"] == workflow["id"]
    assert usage["workflows"][0]["today"] == quota
    for reply in replies:
        if reply.status == 202:
            api.wait(json.loads(reply.body)["executionId"])


def test_per_minute_limit_under_a_burst(stack) -> None:
    limit = 10
    _, _, key = client_for(stack, requests_per_minute_override=limit)
    replies = concurrent_requests([("GET", f"{stack.base_url}/v1/workflows", key, {}, b"")] * 25, processes=3)
    ok = [r for r in replies if r.status == 200]
    limited = [r for r in replies if r.status == 429]
    assert len(ok) == limit and len(limited) == 25 - limit
    assert sorted(int(r.headers["X-RateLimit-Remaining"]) for r in ok) == list(range(limit))
    for reply in replies:
        assert reply.headers["X-RateLimit-Limit"] == str(limit)
        assert reply.headers["RateLimit-Policy"] == f'"per-key";q={limit};w=60'
        assert int(reply.headers["X-RateLimit-Reset"]) > time.time()
    for reply in limited:
        assert json.loads(reply.body)["error"]["type"] == "rate_limit_exceeded"
        assert 1 <= int(reply.headers["Retry-After"]) <= 60
        assert reply.headers["X-RateLimit-Remaining"] == "0"


def test_the_concurrency_limit_holds_runs_in_the_queue_and_only_a_full_queue_is_refused(stack) -> None:
    from api_service.accounts.models import Plan

    api, tenant, _ = client_for(stack, plan="free", requests_per_minute_override=1000)  # one at a time
    workflow = api.create_workflow(text_to_image(**{"3": {"steps": 40}}))
    first = api.execute(workflow["id"])
    second = api.execute(workflow["id"])  # accepted: it waits for the first
    held = api.get(f"/v1/workflows/executions/{second}/poll").json()
    assert held["status"] == "QUEUED" and held["waiting"]["reason"] == "concurrency_limit", held
    assert api.wait(first, timeout=180)["status"] == "COMPLETED"
    assert api.wait(second, timeout=180)["status"] == "COMPLETED"
    done = api.get(f"/v1/workflows/executions/{first}/poll").json()["completedAt"]
    assert api.get(f"/v1/workflows/executions/{second}/poll").json()["startedAt"] >= done
    # The plan's queue cap: waiting runs beyond it are refused.
    cap = Plan.objects.get(slug="free").max_queued_executions or 0
    assert cap > 0
    tenant.max_concurrent_executions_override = 0  # nothing starts: every run waits
    tenant.save(update_fields=["max_concurrent_executions_override"])
    for _ in range(cap):
        api.execute(workflow["id"])
    refused = api.post(f"/v1/workflows/{workflow['id']}/execute", json={})
    assert refused.status_code == 429 and refused.json()["error"]["type"] == "queue_full"
    assert int(refused.headers["Retry-After"]) >= 1
    for execution in api.get("/v1/executions?limit=100").json()["items"]:  # leave no run waiting
        if execution["status"] == "QUEUED":
            api.post(f"/v1/workflows/executions/{execution['executionId']}/cancel")


def test_expired_restricted_and_rotated_keys(stack, db) -> None:
    from django.utils import timezone

    from api_service.accounts import services
    from api_service.accounts.auth_cache import auth_cache_invalidate
    from api_service.accounts.models import ApiKey

    api, tenant, key = client_for(stack)
    mine = api.create_workflow(TEXT_TO_IMAGE)
    other = api.create_workflow(TEXT_TO_IMAGE)

    restricted = services.api_key_create(tenant=tenant, name="only one")
    ApiKey.objects.filter(pk=restricted.api_key.pk).update(allowed_workflow_ids=[mine["id"]])
    narrow = ApiClient(stack.base_url, restricted.secret)
    assert [w["id"] for w in narrow.get("/v1/workflows").json()["items"]] == [mine["id"]]
    assert narrow.get(f"/v1/workflows/{other['id']}").status_code == 404
    assert narrow.post(f"/v1/workflows/{other['id']}/execute", json={}).status_code == 404
    assert narrow.post(f"/v1/workflows/{mine['id']}/execute", json={}).status_code == 202

    old = ApiKey.objects.get(tenant=tenant, last4=key[-4:])
    rotated = services.api_key_rotate(api_key=old, old_key_valid_until=timezone.now() + timedelta(hours=1))
    assert ApiClient(stack.base_url, rotated.secret).get("/v1/workflows").status_code == 200
    assert api.get("/v1/workflows").status_code == 200  # still inside its grace period
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    auth_cache_invalidate()  # a write outside the services: the api processes must read the row again
    expired = api.get("/v1/workflows")
    assert expired.status_code == 401
    assert expired.json()["error"]["type"] == "key_expired"


def test_rate_limiter_fails_open_when_redis_is_down(db) -> None:
    import redis

    from api_service.http.throttling import rate_limit_hit

    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    assert rate_limit_hit(redis=unreachable, key_id="key_x", limit=1) is None


def test_expired_idempotency_records_are_purged(stack, db) -> None:
    from django.utils import timezone

    from api_service.accounts.models import IdempotencyRecord
    from api_service.http.idempotency import idempotency_purge_expired

    api, tenant, _ = client_for(stack)
    api.post("/v1/workflows", json={"name": "w", "graph": TEXT_TO_IMAGE}, headers={"Idempotency-Key": "old"})
    IdempotencyRecord.objects.filter(tenant=tenant).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency_purge_expired() >= 1
    assert not IdempotencyRecord.objects.filter(tenant=tenant).exists()
    again = api.post(
        "/v1/workflows", json={"name": "w", "graph": TEXT_TO_IMAGE}, headers={"Idempotency-Key": "old"}
    )
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers


@pytest.mark.parametrize("plan", ["free", "starter", "pro", "enterprise"])
def test_seeded_plans(db, plan) -> None:
    from api_service.accounts.models import Plan

    expected = {"free": (10, 50), "starter": (20, 200), "pro": (60, 1000), "enterprise": (200, None)}[plan]
    row = Plan.objects.get(slug=plan)
    assert (row.requests_per_minute, row.executions_per_day) == expected
