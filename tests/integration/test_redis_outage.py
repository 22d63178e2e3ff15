"""With Redis unreachable the api still answers: no rate-limit headers, the daily quota holds exactly."""

from __future__ import annotations

import json

import requests

from deploy.processes import ProcessGroup, api_command, wait_for
from tests.support.factories import make_key, make_tenant
from tests.support.graphs import text_to_image
from tests.support.stack import free_port


def test_api_without_redis(platform_env, db, tmp_path) -> None:
    import os

    from api_service.workflows.models import Execution

    dead = "redis://127.0.0.1:1/0"
    env = {**os.environ, **platform_env, "REDIS_URL": dead, "CELERY_BROKER_URL": dead}
    port = free_port()
    group = ProcessGroup()
    group.start("api-no-redis", api_command(port=port, workers=1), log_dir=tmp_path, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=2).ok, timeout=60, what="api")
        tenant = make_tenant(executions_per_day_override=2, max_concurrent_executions_override=100)
        headers = {"Authorization": f"Bearer {make_key(tenant)}"}
        created = requests.post(
            f"{base}/v1/workflows", json={"name": "w", "graph": text_to_image()}, headers=headers, timeout=30
        )
        assert created.status_code == 201, created.text
        assert "X-RateLimit-Limit" not in created.headers  # the limiter failed open
        url = f"{base}/v1/workflows/{created.json()['id']}/execute"
        replies = [requests.post(url, json={}, headers=headers, timeout=60) for _ in range(3)]
        assert [r.status_code for r in replies] == [202, 202, 429]
        assert replies[2].json()["error"]["type"] == "quota_exceeded"
        # Nothing is lost: the rows wait, unpublished, for the sweeper once the broker is back.
        rows = Execution.objects.filter(tenant=tenant)
        assert rows.count() == 2
        assert set(rows.values_list("status", flat=True)) == {"QUEUED"}
        assert set(rows.values_list("published_at", flat=True)) == {None}
        poll = requests.get(
            f"{base}/v1/workflows/executions/{replies[0].json()['executionId']}/poll", headers=headers
        )
        assert poll.status_code == 200
        assert json.loads(poll.content)["status"] == "QUEUED"
    finally:
        group.stop()
