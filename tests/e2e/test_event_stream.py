"""GET .../events: Server-Sent Events of one execution, replayed with Last-Event-ID, served by the
api as deployed (gunicorn with uvicorn workers), and the same policy as poll."""

from __future__ import annotations

import json
import time

import requests

from tests.support.graphs import text_to_image


def read_events(base_url: str, key: str, execution_id: str, last_id: str | None = None, timeout: float = 120):
    headers = {"Authorization": f"Bearer {key}"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    url = f"{base_url}/v1/workflows/executions/{execution_id}/events"
    events: list[dict] = []
    current: dict = {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith(":") or line.startswith("retry:"):
                continue
            if not line:
                if current:
                    events.append(current)
                    if current["event"].startswith("execution.") and current["event"] not in (
                        "execution.queued",
                        "execution.started",
                    ):
                        break
                current = {}
                continue
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value
    return events


def test_events_stream_a_run_from_queued_to_completed_and_replay_after_an_id(api, stack, world) -> None:
    workflow = api.create_workflow(text_to_image(**{"3": {"steps": 12}}))
    execution_id = api.execute(workflow["id"])
    events = read_events(stack.base_url, world.key, execution_id)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "execution.queued" and kinds[-1] == "execution.completed", kinds
    assert "execution.started" in kinds and "node.started" in kinds and "node.completed" in kinds
    assert any(k == "node.progress" for k in kinds)
    progress = [e["data"] for e in events if e["event"] == "node.progress"]
    assert progress[-1]["steps"] == 12 and progress[-1]["classType"] == "KSampler"
    assert events[0]["data"]["waiting"] is None or events[0]["data"]["waiting"]["pool"] == "default"
    final = events[-1]["data"]
    poll = api.get(f"/v1/workflows/executions/{execution_id}/poll").json()
    assert final["status"] == poll["status"] == "COMPLETED"
    assert final["outputs"].keys() == poll["outputs"].keys() and final["outputs"]["9"]["images"]
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)
    # Reconnect from the middle: exactly what came after that id, then the end.
    middle = len(events) // 2
    replay = read_events(stack.base_url, world.key, execution_id, last_id=ids[middle])
    assert [e["id"] for e in replay[:-1]] == ids[middle + 1 : -1]
    assert replay[-1]["event"] == "execution.completed"


def test_the_stream_has_the_api_policy(api, stack, world) -> None:
    url = f"{stack.base_url}/v1/workflows/executions/exe_0000000000000000000000/events"
    assert requests.get(url, timeout=10).status_code == 401
    missing = requests.get(url, headers={"Authorization": f"Bearer {world.key}"}, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert "X-RateLimit-Limit" in missing.headers or "RateLimit-Limit" in missing.headers


def test_a_cancelled_run_ends_its_stream(api, stack, world) -> None:
    workflow = api.create_workflow(text_to_image(**{"3": {"steps": 400}}))
    execution_id = api.execute(workflow["id"])
    time.sleep(0.5)
    assert api.post(f"/v1/workflows/executions/{execution_id}/cancel").status_code == 200
    events = read_events(stack.base_url, world.key, execution_id, timeout=60)
    assert events[-1]["event"] == "execution.cancelled"
    assert events[-1]["data"]["status"] == "CANCELLED"
