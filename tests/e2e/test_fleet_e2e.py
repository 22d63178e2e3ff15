"""The fleet with real worker processes: pools and routing, the live registry, workers killed or
stopped mid-run, runs on pools nobody serves. Every run ends once, with one set of outputs."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import pytest

from tests.support.fleet import SpareWorkers, reaper_pump
from tests.support.graphs import TEXT_TO_IMAGE_INPUTS, text_to_image


@pytest.fixture
def spares(platform_env, tmp_path):
    workers = SpareWorkers(platform_env, tmp_path / "spare-logs")
    yield workers
    workers.stop()


def workflow_on(api, pool: str, steps: int, inputs: dict | None = None) -> str:
    body = {"name": f"on {pool}", "graph": text_to_image(**{"3": {"steps": steps}}), "pool": pool}
    if inputs:
        body["inputs"] = inputs
    response = api.post("/v1/workflows", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["pool"] == pool
    return response.json()["id"]


def poll(api, execution_id: str) -> dict:
    response = api.get(f"/v1/workflows/executions/{execution_id}/poll")
    assert response.status_code == 200, response.text
    return response.json()


def wait_status(api, execution_id: str, status: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = poll(api, execution_id)
        if body["status"] == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{execution_id} never reached {status}: {body}")


def wait_sampling(api, execution_id: str, timeout: float = 120) -> dict:
    """Until the run is past its model loads, in the sampler's steps (where a run can stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = poll(api, execution_id)
        if body["status"] == "RUNNING" and (body.get("progress") or {}).get("step"):
            return body
        time.sleep(0.25)
    raise AssertionError(f"{execution_id} never reached its sampler: {body}")


def output_keys(execution_id: str) -> list[str]:
    from api_service.workflows.models import Execution

    outputs = Execution.objects.get(pk=execution_id).outputs
    return [image["key"] for node in outputs.values() for image in node.get("images", [])]


def test_pools_are_listed_with_their_live_workers_and_a_workflow_must_name_one(api) -> None:
    response = api.get("/v1/pools")
    assert response.status_code == 200, response.text
    pools = {pool["name"]: pool for pool in response.json()["items"]}
    assert set(pools) == {"default", "spare", "spare2", "idle"}
    assert pools["default"]["default"] and pools["default"]["workers"] >= 1
    assert pools["idle"]["workers"] == 0
    assert "host" not in response.text and "127.0.0.1" not in response.text
    bad = api.post("/v1/workflows", json={"name": "x", "graph": text_to_image(), "pool": "gpu-9000"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "unknown_pool"
    assert "spare" in bad.json()["error"]["message"]


def test_a_run_on_a_pool_without_workers_says_why_it_waits_then_fails_no_worker(api) -> None:
    from django.test import override_settings

    from api_service.workflows import reaper

    execution_id = api.execute(workflow_on(api, "idle", steps=2))
    waiting = poll(api, execution_id)["waiting"]
    assert (waiting["reason"], waiting["pool"], waiting["position"]) == ("no_worker", "idle", 1)
    assert "idle" in waiting["message"]
    with override_settings(NO_WORKER_FAIL_AFTER_SECONDS=1):
        reaper.executions_reap()
        time.sleep(1.2)
        assert reaper.executions_reap()["noWorker"] >= 1
    body = poll(api, execution_id)
    assert (body["status"], body["error"]["type"]) == ("FAILED", "no_worker")
    assert "gpu_worker.launcher --pool idle" in body["error"]["message"]


def test_a_worker_killed_mid_run_costs_one_attempt_and_the_run_completes_once(api, spares) -> None:
    first = spares.start("spare")
    spares.wait_ready(first)
    execution_id = api.execute(workflow_on(api, "spare", steps=80))
    wait_status(api, execution_id, "RUNNING")
    time.sleep(0.5)
    spares.kill(first)
    second = spares.start("spare")
    with reaper_pump():
        body = api.wait(execution_id, timeout=400)
    assert body["status"] == "COMPLETED", body
    assert body["attempt"] == 2
    keys = output_keys(execution_id)
    assert len(keys) == 1 and "/attempt-2/" in keys[0]
    assert second.alive()


def sigterm(member, *, main_only: bool = False) -> float:
    """SIGTERM to the worker's process group (as make run's Ctrl-C, systemd and the launcher send it),
    or to its main process only (as Kubernetes does); returns when it exited, with the seconds it took."""
    import signal
    import subprocess

    started = time.monotonic()
    if main_only:
        os.kill(member.process.pid, signal.SIGTERM)
        try:
            member.process.wait(member.stop_timeout)
        except subprocess.TimeoutExpired:
            member.stop(timeout=1)
    else:
        member.stop()  # SIGTERM, then SIGKILL after its stop_timeout
    took = time.monotonic() - started
    assert not member.alive()
    assert took < member.stop_timeout - 1, f"{member.name} was killed, not drained ({took:.1f} s)"
    return took


@pytest.mark.timeout(300)
def test_sigterm_hands_a_long_run_back_at_once_and_lets_a_short_one_finish(api, spares, world) -> None:
    """No reaper runs here: what recovers the run can only be the drain's hand-back."""
    from api_service.accounts.auth_cache import auth_cache_invalidate
    from api_service.accounts.models import Tenant
    from api_service.workflows.models import Execution

    Tenant.objects.filter(pk=world.tenant.pk).update(requests_per_minute_override=100_000)
    auth_cache_invalidate()  # a write outside the services: the api processes must read it again

    # A grace of one second: the run is handed back well before its last step, on a fast machine too.
    pair = [spares.start("spare2", DRAIN_GRACE_SECONDS="1") for _ in range(2)]
    for member in pair:
        spares.wait_ready(member)
    # Several seconds of sampling on an idle machine (a step of the tiny model takes about 20 ms there),
    # so the SIGTERM lands well inside it, and a loaded one still shows it RUNNING mid-sampling.
    long_run = api.execute(workflow_on(api, "spare2", steps=400))
    wait_sampling(api, long_run)
    row = Execution.objects.get(pk=long_run)
    holder = next(m for m in pair if row.worker.startswith(f"{m.name}@"))
    other = next(m for m in pair if m is not holder)
    took = sigterm(holder, main_only=True)  # the main process passes it on to the pool child
    assert took < 1 + 10, took  # the grace, the step that hands it back, the exit
    body = api.wait(long_run, timeout=180)
    assert body["status"] == "COMPLETED" and body["attempt"] == 2, body
    row.refresh_from_db()
    assert row.worker.startswith(f"{other.name}@")
    assert row.max_attempts == 3 + 1  # a hand-back does not count against the attempt limit
    keys = output_keys(long_run)
    assert len(keys) == 1 and "/attempt-2/" in keys[0]

    # A run shorter than the grace finishes where it runs, then the worker exits.
    patient = spares.start("spare", DRAIN_GRACE_SECONDS="60")
    spares.wait_ready(patient)
    short_run = api.execute(workflow_on(api, "spare", steps=150))  # a few seconds: seen mid-sampling
    wait_sampling(api, short_run)
    sigterm(patient)
    body = poll(api, short_run)
    for _ in range(50):  # the COMPLETED event was sent before the worker left; the control worker applies it
        if body["status"] != "RUNNING":
            break
        time.sleep(0.1)
        body = poll(api, short_run)
    assert body["status"] == "COMPLETED" and body["attempt"] == 1, body
    assert Execution.objects.get(pk=short_run).worker.startswith(f"{patient.name}@")


def broker_timeout_elapses(broker_url: str, execution_id: str) -> int:
    """What the broker does once a delivered, unacknowledged message is older than its visibility
    timeout: put it back in its queue for another consumer. Done here by a consumer whose visibility
    timeout is one second (the fleet's own is the task time limit plus a margin, so a run would be
    stopped by its time limit first: protocol/timing.py). Returns how many messages of the execution
    went back."""
    from celery import Celery

    app = Celery("visibility-probe", broker=broker_url)
    app.conf.broker_transport_options = {"visibility_timeout": 1}
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel  # the Redis transport's (kombu types it generically)
        time.sleep(1.1)
        qos, client = channel.qos, channel.client
        due = client.zrange(qos.unacked_index_key, time.time() - 1, 0, desc=True, byscore=True)
        payloads = client.hmget(qos.unacked_key, due) if due else []
        qos.restore_visible(num=100, interval=1)
        return sum(execution_id.encode() in (payload or b"") for payload in payloads)


@pytest.mark.timeout(300)
def test_a_run_outliving_the_brokers_visibility_timeout_never_runs_twice_at_once(api, spares, world) -> None:
    from api_service.accounts.auth_cache import auth_cache_invalidate
    from api_service.accounts.models import Tenant
    from api_service.workflows.models import Execution

    Tenant.objects.filter(pk=world.tenant.pk).update(requests_per_minute_override=100_000)
    auth_cache_invalidate()  # a write outside the services: the api processes must read it again
    pair = [spares.start("spare"), spares.start("spare")]
    for member in pair:
        spares.wait_ready(member)
    execution_id = api.execute(workflow_on(api, "spare", steps=480))  # ~10 s of sampling on an idle CPU
    wait_sampling(api, execution_id)
    row = Execution.objects.get(pk=execution_id)
    other = next(m for m in pair if not row.worker.startswith(f"{m.name}@"))
    broker = spares.env.get("CELERY_BROKER_URL") or spares.env["REDIS_URL"]
    # The running run's message, back in its queue (looked for a few times: a look can come before
    # the broker's unacked index shows the delivery a second old).
    restored = 0
    for _ in range(10):
        restored = broker_timeout_elapses(broker, execution_id)
        if restored:
            break
    assert restored == 1

    def copy_refused() -> bool:
        return "busy" in other.tail(400) and "this delivery exits" in other.tail(400)

    from deploy.processes import wait_for

    wait_for(copy_refused, timeout=60, what="the redelivered copy to exit")
    body = api.wait(execution_id, timeout=180)
    assert body["status"] == "COMPLETED" and body["attempt"] == 1, body
    keys = output_keys(execution_id)
    assert len(keys) == 1 and "/attempt-1/" in keys[0]
    assert Execution.objects.get(pk=execution_id).worker == row.worker  # the first copy finished it


@pytest.mark.slow
@pytest.mark.timeout(int(os.environ.get("CHAOS_RUNS", "16")) * 30 + 300)
def test_chaos_workers_killed_at_random_while_runs_flow_through_two_pools(api, spares, world) -> None:
    """SIGKILL workers at random points during many runs across two pools while new ones start: every
    run ends COMPLETED exactly once (or FAILED worker_lost after its attempts), none stays RUNNING."""
    from api_service.accounts.auth_cache import auth_cache_invalidate
    from api_service.accounts.models import Tenant
    from api_service.workflows.models import Execution

    Tenant.objects.filter(pk=world.tenant.pk).update(requests_per_minute_override=100_000)
    auth_cache_invalidate()  # a write outside the services: the api processes must read the row again

    rng = random.Random(7)
    runs = int(os.environ.get("CHAOS_RUNS", "10"))
    pools = ("spare", "spare2")
    live = {pool: [spares.start(pool)] for pool in pools}
    for members in live.values():
        spares.wait_ready(members[0])
    # A seed of each run's own: none is served from a worker's result cache, each one samples.
    workflows = {pool: workflow_on(api, pool, steps=12, inputs=TEXT_TO_IMAGE_INPUTS) for pool in pools}
    ids = [api.execute(workflows[pools[i % 2]], inputs={"seed": i}) for i in range(runs)]
    deadline = time.monotonic() + runs * 30 + 120  # 2 cores shared by 4 workers: about 25 s a run
    with reaper_pump():
        while time.monotonic() < deadline:
            statuses = list(Execution.objects.filter(pk__in=ids).values_list("status", flat=True))
            if all(s in ("COMPLETED", "FAILED", "CANCELLED") for s in statuses):
                break
            pool = rng.choice(pools)
            # About one kill per pool every half minute: a worker lives long enough to start (a few
            # seconds), load its model and finish some runs, and dies in the middle of others.
            if live[pool] and rng.random() < 0.3:
                spares.kill(live[pool].pop(rng.randrange(len(live[pool]))))
            if len(live[pool]) < 2:
                live[pool].append(spares.start(pool))
            time.sleep(rng.uniform(2.0, 8.0))
    bodies = [poll(api, i) for i in ids]
    assert all(b["status"] in ("COMPLETED", "FAILED") for b in bodies), [b["status"] for b in bodies]
    for body in bodies:
        if body["status"] == "FAILED":
            assert body["error"]["type"] == "worker_lost", body
        else:
            keys = output_keys(body["executionId"])
            assert len(keys) == 1 and f"/attempt-{body['attempt']}/" in keys[0], body
    assert sum(b["status"] == "COMPLETED" for b in bodies) >= runs * 3 // 4


def test_one_tenants_backlog_delays_another_tenants_run_by_at_most_one_run(api, spares, stack) -> None:
    from api_service.workflows.models import Execution
    from tests.support.api import ApiClient
    from tests.support.factories import make_key, make_tenant

    worker = spares.start("spare")
    spares.wait_ready(worker)
    busy = api.create_workflow(text_to_image(**{"3": {"steps": 6}}), name="busy")
    api.patch(f"/v1/workflows/{busy['id']}", json={"pool": "spare"})
    backlog = [api.execute(busy["id"]) for _ in range(20)]
    from api_service.fleet.selectors import fleet_workers, pool_capacity

    published = Execution.objects.filter(pk__in=backlog, published_at__isnull=False).count()
    assert published <= 1, (published, pool_capacity(fleet_workers(), "spare"), fleet_workers())
    other_tenant = make_tenant(requests_per_minute_override=1000)
    other = ApiClient(stack.base_url, make_key(other_tenant))
    mine = other.create_workflow(text_to_image(**{"3": {"steps": 6}}), name="mine")
    assert other.patch(f"/v1/workflows/{mine['id']}", json={"pool": "spare"}).status_code == 200
    from django.utils import timezone

    submitted = timezone.now()
    late = other.execute(mine["id"])
    waiting = other.get(f"/v1/workflows/executions/{late}/poll").json()["waiting"]
    assert waiting is None or waiting["position"] in (0, 1), waiting  # next in line, not 20th
    assert other.wait(late, timeout=300)["status"] == "COMPLETED"
    started = Execution.objects.get(pk=late).started_at
    between = Execution.objects.filter(pk__in=backlog, started_at__gt=submitted, started_at__lt=started)
    overtaking = between.count()
    assert overtaking <= 1, f"{overtaking} runs of the backlog started between its submit and its start"
    assert Execution.objects.get(pk=late).worker.startswith("spare-w")  # routed to the pool's worker
    for execution_id in backlog:
        api.post(f"/v1/workflows/executions/{execution_id}/cancel")
