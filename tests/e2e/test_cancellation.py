"""Cancelling executions through the API: the row turns CANCELLED at once and the gpu worker stops."""

from __future__ import annotations

import time

import pytest

from tests.support.graphs import text_to_image

pytestmark = pytest.mark.e2e

# The most steps the test tenant's plan allows (cost limits refuse more): many seconds of sampling,
# so the cancellation, not the end of the run, is what stops it.
ENDLESS = text_to_image(**{"3": {"steps": 500}})


def gpu_log(stack) -> str:
    return (stack.log_dir / "gpu.log").read_text()


def wait_for(condition, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def poll(api, execution_id: str) -> dict:
    response = api.get(f"/v1/workflows/executions/{execution_id}/poll")
    assert response.status_code == 200, response.text
    return response.json()


def cancel(api, execution_id: str):
    return api.post(f"/v1/workflows/executions/{execution_id}/cancel")


def test_cancelling_a_running_execution_stops_its_sampler(api, stack, request) -> None:
    running = api.execute(api.create_workflow(ENDLESS)["id"])
    # Whatever happens here, never leave the (only) gpu worker busy for the tests that follow.
    request.addfinalizer(lambda: cancel(api, running))

    def sampling() -> bool:
        body = poll(api, running)
        return body["status"] == "RUNNING" and ((body.get("progress") or {}).get("step") or 0) >= 1

    wait_for(sampling, what="the sampler to step")
    # Queued behind the running one (one execution per gpu worker, so the fair dispatcher holds it back
    # unpublished): cancelled before it starts, it never reaches a worker.
    queued = api.execute(api.create_workflow(text_to_image())["id"])

    for execution_id in (queued, running):
        response = cancel(api, execution_id)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "CANCELLED"
        assert body["error"]["type"] == "cancelled"

    # The worker stops the sampler mid-run; the queued one was never handed to it.
    wait_for(lambda: f"[{running}-1] succeeded" in gpu_log(stack), what="the running task to end")
    log = gpu_log(stack)
    assert f"execution {running} cancelled while running" in log
    assert queued not in log
    assert poll(api, queued)["startedAt"] is None
    # Late worker events never change a cancelled row; cancelling again is a no-op.
    assert poll(api, running)["status"] == "CANCELLED"
    assert cancel(api, running).status_code == 200
    # The worker is free for the next execution.
    assert api.wait(api.execute(api.create_workflow(text_to_image())["id"]))["status"] == "COMPLETED"


def test_a_cancel_stops_a_run_inside_a_long_vae_decode(api, stack, request) -> None:
    # A 2048x2048 decode straight from an empty latent: one node, many seconds on the tiny VAE.
    graph = text_to_image(**{"5": {"width": 2048, "height": 2048}})
    graph["8"]["inputs"]["samples"] = ["5", 0]
    running = api.execute(api.create_workflow(graph)["id"])
    request.addfinalizer(lambda: cancel(api, running))

    def decoding() -> bool:
        body = poll(api, running)
        return (body.get("progress") or {}).get("classType") == "VAEDecode"

    wait_for(decoding, what="the VAE decode to start")
    time.sleep(0.5)  # inside the node, not between nodes
    cancelled_at = time.monotonic()
    assert cancel(api, running).json()["status"] == "CANCELLED"
    wait_for(lambda: f"[{running}-1] succeeded" in gpu_log(stack), what="the running task to end")
    # A figure for the report (no timing assertion): how long the node went on after the cancel.
    print(f"\nVAEDecode stopped {time.monotonic() - cancelled_at:.2f}s after the cancel (log poll included)")
    assert f"execution {running} cancelled while running" in gpu_log(stack)
    assert poll(api, running)["status"] == "CANCELLED"
    assert api.wait(api.execute(api.create_workflow(text_to_image())["id"]))["status"] == "COMPLETED"


def test_an_execution_that_ended_cannot_be_cancelled(api) -> None:
    finished = api.wait(api.execute(api.create_workflow(text_to_image())["id"]))
    assert finished["status"] == "COMPLETED"
    response = cancel(api, finished["executionId"])
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "execution_finished"
    assert poll(api, finished["executionId"])["status"] == "COMPLETED"
