"""Attempts as fencing tokens: one live copy of a run, stale attempts ignored, lost workers retried up
to the attempt limit, deadlines enforced. Real Redis and PostgreSQL; the reaper's own code."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from protocol import leases
from protocol.messages import COMPLETED, FAILED, STARTED, RunSpec
from protocol.timing import FleetTiming
from tests.support.graphs import TEXT_TO_IMAGE

FAST = FleetTiming(heartbeat_seconds=1, heartbeat_misses=2)


@pytest.fixture
def redis(platform_env):
    import redis as redis_lib

    return redis_lib.Redis.from_url(platform_env["REDIS_URL"])


def spec(execution_id: str | None = None, attempt: int = 1, max_attempts: int = 3) -> RunSpec:
    return RunSpec(
        execution_id=execution_id or f"exe_{uuid.uuid4().hex[:12]}",
        attempt=attempt,
        tenant_id="t",
        graph={},
        output_node_ids=[],
        storage_prefix="tenants/t/executions/x/",
        max_attempts=max_attempts,
    )


def test_one_live_copy_and_a_finished_run_never_runs_again(redis) -> None:
    from gpu_worker.lease import Heartbeat, lease_claim, lease_finish

    run = spec()
    first = lease_claim(redis, run, worker="a", timing=FAST)
    assert (first.status, first.spec.attempt) == (leases.RUN, 1)
    assert first.spec.storage_prefix.endswith("/attempt-1/")
    second = lease_claim(redis, run, worker="b", timing=FAST)
    assert (second.status, second.holder) == (leases.BUSY, "1:a")
    with Heartbeat(redis, first, FAST) as beat:
        time.sleep(2.5)  # past one lease: the heartbeat kept it
        assert lease_claim(redis, run, worker="b", timing=FAST).status == leases.BUSY
        assert not beat.lost
    lease_finish(redis, first)
    assert lease_claim(redis, run, worker="c", timing=FAST).status == leases.FINISHED


def test_a_lapsed_lease_hands_out_the_next_attempt_never_below_the_spec(redis) -> None:
    from gpu_worker.lease import Heartbeat, lease_claim

    run = spec()
    first = lease_claim(redis, run, worker="a", timing=FAST)
    time.sleep(FAST.lease_seconds + 0.3)  # the worker died: no heartbeat
    second = lease_claim(redis, run, worker="b", timing=FAST)
    assert (second.status, second.spec.attempt) == (leases.RUN, 2)
    assert second.spec.storage_prefix.endswith("/attempt-2/")
    # The old attempt comes back (it was only frozen): it finds the lease taken and stands down.
    stale = Heartbeat(redis, first, FAST)
    stale.beat()
    assert stale.lost
    retried = lease_claim(redis, spec(run.execution_id, attempt=7), worker="c", timing=FAST)
    assert retried.status == leases.BUSY  # attempt 2 still holds it
    redis.delete(leases.LEASE_KEY.format(execution_id=run.execution_id))
    assert lease_claim(redis, spec(run.execution_id, attempt=7), worker="c", timing=FAST).spec.attempt == 7


def test_past_the_attempt_limit_the_run_fails_as_worker_lost_without_running(redis, models_dir) -> None:
    from gpu_worker.attempt import attempt_run
    from tests.support.worker_runtime import worker_runtime

    run = spec(max_attempts=2)
    redis.set(leases.ATTEMPT_KEY.format(execution_id=run.execution_id), 2)  # two workers died on it
    events: list[dict] = []
    runtime = worker_runtime(models_dir)
    outcome = attempt_run(spec=run, runtime=runtime, emit=events.append, worker="w", timing=FAST)
    assert outcome == FAILED
    assert [(e["type"], e["attempt"], e["error"]["type"]) for e in events] == [(FAILED, 3, "worker_lost")]


def make_execution(world, **fields):
    from api_service.workflows.models import Execution, Workflow

    # On a pool no worker serves: a retry published by the reaper stays QUEUED for the test to see.
    workflow = Workflow.objects.create(tenant=world.tenant, name="w", graph=TEXT_TO_IMAGE, pool="idle")
    return Execution.objects.create(
        tenant=world.tenant,
        workflow=workflow,
        graph=TEXT_TO_IMAGE,
        output_node_ids=["9"],
        pool="idle",
        **fields,
    )


def event(execution, kind: str, attempt: int, **fields) -> dict:
    return {"type": kind, "executionId": execution.id, "attempt": attempt, **fields}


def test_a_newer_attempt_takes_over_and_the_old_one_is_fenced_off(world) -> None:
    from api_service.workflows.services import execution_apply_event

    execution = make_execution(world)
    assert execution_apply_event(event=event(execution, STARTED, 1, worker="a"))
    assert execution_apply_event(event=event(execution, STARTED, 2, worker="b"))  # a's worker died
    assert not execution_apply_event(event=event(execution, COMPLETED, 1, outputs={"9": {"old": 1}}))
    assert not execution_apply_event(event=event(execution, STARTED, 1, worker="a"))
    assert execution_apply_event(event=event(execution, COMPLETED, 2, outputs={"9": {"new": 1}}))
    execution.refresh_from_db()
    assert (execution.status, execution.attempt, execution.worker, execution.outputs) == (
        "COMPLETED",
        2,
        "b",
        {"9": {"new": 1}},
    )


def test_a_terminal_event_may_overtake_its_own_start(world) -> None:
    from api_service.workflows.services import execution_apply_event

    execution = make_execution(world)
    assert execution_apply_event(event=event(execution, FAILED, 2, error={"type": "worker_lost"}))
    execution.refresh_from_db()
    assert (execution.status, execution.attempt) == ("FAILED", 2)


def test_the_reaper_retries_a_silent_run_then_gives_up_at_the_limit(world, redis) -> None:
    from django.conf import settings
    from django.utils import timezone

    from api_service.workflows import reaper
    from api_service.workflows.models import Execution

    lease = settings.FLEET_TIMING.lease_seconds
    long_ago = timezone.now() - timedelta(seconds=lease + 5)
    silent = make_execution(world, status="RUNNING", started_at=long_ago, attempt=1, max_attempts=2)
    alive = make_execution(world, status="RUNNING", started_at=long_ago)
    redis.set(leases.HEARTBEAT_KEY.format(execution_id=alive.id), "1", px=60_000)
    reaper.executions_reap()  # first seen silent: nothing happens yet (one late beat is no death)
    assert Execution.objects.get(pk=silent.pk).status == "RUNNING"
    time.sleep(lease + 0.2)
    reaper.executions_reap()
    silent.refresh_from_db()
    # Queued again as attempt 2; the dispatcher publishes it when its pool has a free worker.
    assert (silent.status, silent.attempt) == ("QUEUED", 2)
    assert Execution.objects.get(pk=alive.pk).status == "RUNNING"

    # The retry started and went silent too: attempt 2 of 2 was the last.
    Execution.objects.filter(pk=silent.pk).update(status="RUNNING", started_at=long_ago)
    reaper.executions_reap()
    time.sleep(lease + 0.2)
    reaper.executions_reap()
    silent.refresh_from_db()
    assert (silent.status, silent.error["type"]) == ("FAILED", "worker_lost")


def test_runs_past_their_deadline_fail_as_timeouts_queued_or_running(world) -> None:
    from django.utils import timezone

    from api_service.workflows import reaper

    past = timezone.now() - timedelta(minutes=5)
    queued = make_execution(world, deadline_at=past)
    running = make_execution(world, status="RUNNING", started_at=past, deadline_at=past)
    later = make_execution(world, deadline_at=timezone.now() + timedelta(hours=1))
    assert reaper.executions_reap()["timedOut"] >= 2
    for row, status in ((queued, "FAILED"), (running, "FAILED"), (later, "QUEUED")):
        row.refresh_from_db()
        assert row.status == status
    assert queued.error["type"] == "timeout"


def test_a_finished_run_whose_result_message_was_lost_is_completed_not_rerun(world, redis) -> None:
    """The control worker was killed while applying the worker's `completed` (its message is gone
    until the broker's visibility timeout): the reaper finds the outcome the worker kept."""
    import json

    from django.conf import settings
    from django.utils import timezone

    from api_service.workflows import reaper

    lease = settings.FLEET_TIMING.lease_seconds
    long_ago = timezone.now() - timedelta(seconds=lease + 5)
    execution = make_execution(world, status="RUNNING", started_at=long_ago, attempt=2)
    outputs = {"9": {"images": [{"key": "k/attempt-2/x.png", "width": 8, "height": 8}]}}
    outcome = {"type": COMPLETED, "executionId": execution.id, "attempt": 2, "outputs": outputs}
    redis.set(leases.OUTCOME_KEY.format(execution_id=execution.id), json.dumps(outcome), ex=60)
    reaper.executions_reap()
    time.sleep(lease + 0.2)
    assert reaper.executions_reap()["recovered"] == 1
    execution.refresh_from_db()
    assert (execution.status, execution.attempt, execution.outputs) == ("COMPLETED", 2, outputs)
