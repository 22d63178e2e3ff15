"""The platform's processes for a test session: api (gunicorn), control, webhooks and gpu workers.

Started with the same commands `make run` uses; logs go to files that a
failing test prints.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import requests

from deploy.processes import (
    ProcessGroup,
    api_command,
    control_worker_command,
    gpu_worker_command,
    wait_for,
    webhooks_worker_command,
)
from protocol import fleet
from protocol.timing import FleetTiming


@dataclass
class Stack:
    base_url: str
    group: ProcessGroup
    log_dir: Path

    def logs(self) -> str:
        return "\n\n".join(f"===== {m.name} =====\n{m.tail(60)}" for m in self.group.members)

    def assert_alive(self) -> None:
        dead = self.group.dead()
        if dead:
            raise AssertionError(f"process(es) died: {[m.name for m in dead]}\n{self.logs()}")


def gpu_ready(redis_url: str, pool: str = "default") -> bool:
    import json
    import time

    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    ids: list[str] = list(client.zrangebyscore(fleet.WORKERS_KEY, time.time() - 5, "+inf"))  # type: ignore[arg-type]
    raw = client.mget([fleet.WORKER_KEY.format(worker_id=i) for i in ids]) if ids else []
    records = [json.loads(r) for r in raw if r]
    return any(r["pool"] == pool and r["state"] == "ready" for r in records)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_stack(env: dict[str, str], log_dir: Path) -> Stack:
    from api_service.celery import app

    port = free_port()
    child_env = {**os.environ, **env}
    group = ProcessGroup()
    group.start("api", api_command(port=port, workers=2), log_dir=log_dir, env=child_env)
    group.start("control", control_worker_command(concurrency=2, beat=False), log_dir=log_dir, env=child_env)
    group.start("webhooks", webhooks_worker_command(concurrency=2), log_dir=log_dir, env=child_env)
    drain = FleetTiming.from_env(child_env.get).stop_timeout
    group.start("gpu", gpu_worker_command(pool="default"), log_dir=log_dir, env=child_env, stop_timeout=drain)
    stack = Stack(base_url=f"http://127.0.0.1:{port}", group=group, log_dir=log_dir)
    try:
        wait_for(lambda: requests.get(f"{stack.base_url}/healthz", timeout=2).ok, timeout=60, what="api")

        def workers_ready() -> bool:
            stack.assert_alive()
            replies = app.control.ping(timeout=1.0) or []
            names = {name.split("@")[0] for reply in replies for name in reply}
            return {"control", "webhooks", "gpu"} <= names

        wait_for(workers_ready, timeout=90, interval=1.0, what="celery workers")
        # The gpu worker answers pings while its pool process still loads torch: wait for its ready.
        wait_for(lambda: gpu_ready(env["REDIS_URL"]), timeout=120, interval=0.5, what="gpu worker ready")
    except BaseException:
        print(stack.logs())
        group.stop()
        raise
    return stack
