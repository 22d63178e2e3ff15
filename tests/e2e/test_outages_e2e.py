"""Outages of the shared parts while runs go on: the control worker killed holding events, Redis
restarted mid-run, the broker briefly unreachable. Every run still ends once, with one set of outputs."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.support.fleet import reaper_pump
from tests.support.graphs import text_to_image


def output_keys(execution_id: str) -> list[str]:
    from api_service.workflows.models import Execution

    outputs = Execution.objects.get(pk=execution_id).outputs
    return [image["key"] for node in outputs.values() for image in node.get("images", [])]


def outcome_recorded(redis_url: str, execution_id: str) -> bool:
    import redis

    from protocol import leases

    client = redis.Redis.from_url(redis_url)
    return bool(client.exists(leases.OUTCOME_KEY.format(execution_id=execution_id)))


@pytest.mark.timeout(300)
def test_a_control_worker_killed_holding_events_loses_no_run(api, stack, world, platform_env) -> None:
    """The control worker takes the events of a run (late ack) and dies before applying them: the
    messages stay unacknowledged until the broker's visibility timeout (half an hour). The worker
    kept the run's outcome beside them, and the reaper applies it: no rerun, no row left waiting."""
    import psutil

    from api_service.accounts.auth_cache import auth_cache_invalidate
    from api_service.accounts.models import Tenant
    from api_service.workflows.models import Execution
    from deploy.processes import wait_for

    Tenant.objects.filter(pk=world.tenant.pk).update(requests_per_minute_override=100_000)
    auth_cache_invalidate()  # a write outside the services: the api processes must read it again
    control = next(m for m in stack.group.members if m.name == "control")
    assert control.process is not None
    workflow = api.create_workflow(text_to_image(**{"3": {"steps": 1}}), name="quick")
    # Its pool processes stop: the main process still takes events (up to its prefetch) and holds them.
    children = psutil.Process(control.process.pid).children(recursive=True)
    for child in children:
        child.send_signal(signal.SIGSTOP)
    try:
        first = api.execute(workflow["id"])
        redis_url = platform_env["REDIS_URL"]
        wait_for(lambda: outcome_recorded(redis_url, first), timeout=120, what="the end of the run")
        time.sleep(1.0)  # its completed event reaches the control worker, which holds it
        assert Execution.objects.get(pk=first).status in ("QUEUED", "RUNNING")
        others = [api.execute(workflow["id"]) for _ in range(2)]
    finally:
        os.killpg(control.process.pid, signal.SIGKILL)
        control.process.wait(10)
    control.start()  # the same command, as a supervisor restarts it
    with reaper_pump():
        bodies = [api.wait(execution_id, timeout=180) for execution_id in [first, *others]]
    for body in bodies:
        assert body["status"] == "COMPLETED" and body["attempt"] == 1, body
        assert len(output_keys(body["executionId"])) == 1
    stack.assert_alive()


class PrivateStack:
    """api, control worker and one gpu worker (pool spare2) on a broker and a Redis of their own, each
    an embedded Valkey this test may stop and start; PostgreSQL and the object store are the
    session's."""

    def __init__(self, env: dict[str, str], tmp) -> None:
        from deploy.embedded import start_embedded
        from deploy.processes import ProcessGroup, api_command, control_worker_command, gpu_worker_command
        from tests.support.stack import free_port

        self.tmp, self.ports = tmp, {"broker": free_port(), "state": free_port()}
        self.valkeys = {
            name: start_embedded(tmp / name, postgres=False, redis=True, s3=False, ports={"redis": port})
            for name, port in self.ports.items()
        }
        self.redis_url = self.valkeys["state"].redis_url
        child_env = {
            **os.environ,
            **env,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.valkeys["broker"].redis_url,
            "DATA_DIR": str(tmp / "data"),
        }
        self.port = free_port()
        self.group = ProcessGroup()
        logs = tmp / "logs"
        self.group.start("api", api_command(port=self.port, workers=1), log_dir=logs, env=child_env)
        command = control_worker_command(concurrency=1, beat=False, name="control-private")
        self.group.start("control", command, log_dir=logs, env=child_env)
        command = gpu_worker_command(pool="spare2", name="outage")
        self.group.start("gpu", command, log_dir=logs, env=child_env, stop_timeout=20)

    def wait_ready(self) -> None:
        import requests

        from deploy.processes import wait_for
        from tests.support.stack import gpu_ready

        base = f"http://127.0.0.1:{self.port}"
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=2).ok, timeout=90, what="private api")
        wait_for(lambda: gpu_ready(self.redis_url, "spare2"), timeout=180, interval=0.5, what="gpu ready")

    def stop_valkey(self, name: str) -> None:
        self.valkeys[name].stop()

    def start_valkey(self, name: str) -> None:
        from deploy.embedded import start_embedded

        port = self.ports[name]
        self.valkeys[name] = start_embedded(
            self.tmp / name, postgres=False, redis=True, s3=False, ports={"redis": port}
        )

    def logs(self) -> str:
        return "\n\n".join(f"===== {m.name} =====\n{m.tail(40)}" for m in self.group.members)

    def stop(self) -> None:
        self.group.stop()
        for valkey in self.valkeys.values():
            valkey.stop()


def wait_sampling(api, execution_id: str, timeout: float = 120) -> dict:
    """Until the run is in its sampler (or ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/v1/workflows/executions/{execution_id}/poll").json()
        if body["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return body
        if body["status"] == "RUNNING" and (body.get("progress") or {}).get("step"):
            return body
        time.sleep(0.25)
    raise AssertionError(f"{execution_id} never reached its sampler: {body}")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_redis_restarted_mid_run_and_the_broker_briefly_unreachable(
    platform_env, db, world, tmp_path
) -> None:
    from api_service.accounts.auth_cache import auth_cache_invalidate
    from api_service.accounts.models import Tenant
    from deploy.processes import wait_for
    from tests.support.api import ApiClient

    Tenant.objects.filter(pk=world.tenant.pk).update(requests_per_minute_override=100_000)
    auth_cache_invalidate()  # a write outside the services: the api processes must read it again
    private = PrivateStack(platform_env, tmp_path)
    try:
        private.wait_ready()
        api = ApiClient(f"http://127.0.0.1:{private.port}", world.key)

        def workflow(seed: int) -> str:  # a seed of its own: no run is served from the result cache
            # Long enough to be seen mid-sampling: a poll shows a run's end as soon as its worker
            # recorded it, so a short run can be over before the first look.
            graph = text_to_image(**{"3": {"steps": 400, "seed": seed}})  # ~8 s of sampling, idle CPU
            created = api.post("/v1/workflows", json={"name": f"o{seed}", "graph": graph, "pool": "spare2"})
            assert created.status_code == 201, created.text
            return created.json()["id"]

        # Redis (leases, heartbeats, progress, the fleet registry) restarts while a run samples.
        first = api.execute(workflow(1))
        assert wait_sampling(api, first)["status"] == "RUNNING"
        private.stop_valkey("state")
        time.sleep(2.0)
        private.start_valkey("state")
        # The broker goes away while a run samples and ends (its completed event waits for the broker),
        # and a run is submitted meanwhile (the api keeps it for the dispatcher).
        second = api.execute(workflow(2))
        assert wait_sampling(api, second)["status"] == "RUNNING"
        private.stop_valkey("broker")
        third = api.execute(workflow(3))
        # Until the worker recorded the run's end: its completed event now waits for the broker.
        wait_for(lambda: outcome_recorded(private.redis_url, second), timeout=120, what="the end of the run")
        time.sleep(2.0)
        private.start_valkey("broker")
        for execution_id in (first, second, third):
            body = api.wait(execution_id, timeout=180)
            assert body["status"] == "COMPLETED" and body["attempt"] == 1, body
            keys = output_keys(execution_id)
            assert len(keys) == 1 and "/attempt-1/" in keys[0]
        assert not private.group.dead(), private.logs()
    except BaseException:
        print(private.logs())
        raise
    finally:
        private.stop()
