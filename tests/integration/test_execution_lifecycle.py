"""The forward-only state machine, the publish-on-commit sweeper, and progress."""

from __future__ import annotations

from datetime import timedelta

import pytest

from protocol.messages import COMPLETED, FAILED, STARTED
from tests.support.graphs import TEXT_TO_IMAGE


def make_execution(world):
    from api_service.workflows.models import Execution, Workflow

    workflow = Workflow.objects.create(tenant=world.tenant, name="w", graph=TEXT_TO_IMAGE)
    return Execution.objects.create(
        tenant=world.tenant, workflow=workflow, graph=TEXT_TO_IMAGE, output_node_ids=["9"], attempt=2
    )


def event(execution, kind: str, attempt: int | None = None, **fields) -> dict:
    return {
        "type": kind,
        "executionId": execution.id,
        "attempt": attempt or execution.attempt,
        "at": "2026-01-01T00:00:00+00:00",
        **fields,
    }


def test_events_move_forward_only_and_duplicates_are_ignored(world) -> None:
    from api_service.workflows.services import execution_apply_event

    execution = make_execution(world)
    assert execution_apply_event(event=event(execution, STARTED, worker="gpu@a"))
    assert not execution_apply_event(event=event(execution, STARTED, worker="gpu@b"))
    outputs = {"9": {"images": [{"key": "k", "width": 1, "height": 1}]}}
    assert execution_apply_event(event=event(execution, COMPLETED, outputs=outputs, durationMs=5))
    assert not execution_apply_event(event=event(execution, FAILED, error={"type": "x"}))
    assert not execution_apply_event(event=event(execution, STARTED))
    execution.refresh_from_db()
    assert (execution.status, execution.worker, execution.outputs, execution.error) == (
        "COMPLETED",
        "gpu@a",
        outputs,
        None,
    )


def test_stale_attempts_and_unknown_events_are_ignored(world) -> None:
    from api_service.workflows.services import execution_apply_event

    execution = make_execution(world)
    assert not execution_apply_event(event=event(execution, COMPLETED, attempt=1, outputs={}))
    assert not execution_apply_event(event=event(execution, "exploded"))
    execution.refresh_from_db()
    assert execution.status == "QUEUED"


def test_a_terminal_event_may_overtake_started(world) -> None:
    from api_service.workflows.services import execution_apply_event

    execution = make_execution(world)
    error = {"nodeId": "3", "type": "node_error", "message": "boom"}
    assert execution_apply_event(event=event(execution, FAILED, error=error))
    assert not execution_apply_event(event=event(execution, STARTED))
    execution.refresh_from_db()
    assert execution.status == "FAILED"
    assert execution.error == error
    assert execution.started_at is not None


@pytest.mark.e2e
def test_the_sweeper_publishes_rows_that_were_never_published(api, world) -> None:
    from api_service.workflows.models import Execution, Workflow
    from api_service.workflows.services import executions_sweep_unpublished

    # As if the api process died between the commit and the publish.
    workflow = Workflow.objects.create(tenant=world.tenant, name="w", graph=TEXT_TO_IMAGE)
    orphan = Execution.objects.create(
        tenant=world.tenant, workflow=workflow, graph=TEXT_TO_IMAGE, output_node_ids=["9"]
    )
    # The sweep hands it to the fair dispatcher, which publishes it as soon as the pool has a free worker.
    assert executions_sweep_unpublished(older_than_seconds=0) >= 1
    assert api.wait(orphan.id)["status"] == "COMPLETED"
    orphan.refresh_from_db()
    assert orphan.published_at is not None


@pytest.mark.e2e
def test_poll_shows_live_progress_while_running(api, world) -> None:
    import time

    from api_service.accounts.models import Tenant
    from tests.support.graphs import text_to_image

    # Polling 20 times a second for as long as the run takes (long on a loaded machine) is more than
    # any plan allows: this tenant gets a per-tenant override, as ops would give a heavy poller. The
    # limiter itself is as strict as ever; a 429 (should one come) is waited out as told.
    Tenant.objects.filter(pk=world.tenant.pk).update(requests_per_minute_override=100_000)
    workflow = api.create_workflow(text_to_image(**{"3": {"steps": 60}, "5": {"width": 128, "height": 128}}))
    execution_id = api.execute(workflow["id"])
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = api.get(f"/v1/workflows/executions/{execution_id}/poll")
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] == "RUNNING" and body["progress"].get("node"):
            seen.append(body["progress"])
        if body["status"] in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.05)
    assert body["status"] == "COMPLETED"
    assert seen, "never saw RUNNING with progress"
    sampler = [p for p in seen if p["classType"] == "KSampler" and p["step"]]
    assert sampler and sampler[-1]["steps"] == 60
    assert 0 < sampler[-1]["fraction"] <= 1


def test_running_executions_whose_worker_vanished_are_failed(world) -> None:
    from django.utils import timezone

    from api_service.workflows.models import Execution
    from api_service.workflows.reaper import executions_fail_stale
    from api_service.workflows.services import execution_apply_event

    # Only this test's rows are asserted on: other tests' executions may be RUNNING on the live stack
    # meanwhile and the sweep counts them too. Ours started 20 minutes ago, far beyond any test run,
    # so a cutoff of 10 minutes fails no other test's live row, and one of 30 fails nothing of ours.
    def started(minutes_ago: int) -> Execution:
        execution = make_execution(world)
        at = timezone.now() - timedelta(minutes=minutes_ago)
        assert execution_apply_event(
            event={**event(execution, STARTED, worker="gpu@gone"), "at": at.isoformat()}
        )
        return execution

    lost, busy = started(minutes_ago=20), started(minutes_ago=0)
    executions_fail_stale(older_than_seconds=30 * 60)
    assert Execution.objects.get(pk=lost.pk).status == "RUNNING"  # not stale yet at 30 minutes
    assert executions_fail_stale(older_than_seconds=10 * 60) >= 1
    lost.refresh_from_db()
    busy.refresh_from_db()
    assert lost.status == "FAILED" and (lost.error or {}).get("type") == "worker_lost"
    assert busy.status == "RUNNING"  # started just now: its worker is still at it
    assert not execution_apply_event(event=event(lost, COMPLETED, outputs={}))


def test_a_stale_event_leaves_a_cancelled_row_alone(world) -> None:
    from api_service.workflows.services import execution_apply_event, execution_cancel

    execution = make_execution(world)
    assert execution_cancel(execution=execution)
    assert not execution_apply_event(event=event(execution, COMPLETED, outputs={}))
    execution.refresh_from_db()
    assert execution.status == "CANCELLED"
    assert execution.started_at is None
