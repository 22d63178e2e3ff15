"""Extra gpu workers for fleet tests: started with `make run`'s command on a pool of their own, killed
at will, and a pump that runs the control worker's reaper every second (the session's control worker
runs without beat)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deploy.processes import ProcessGroup, Supervised, gpu_worker_command, wait_for
from protocol import fleet
from protocol.timing import FleetTiming


class SpareWorkers:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.group = ProcessGroup()
        self.started = 0

    def start(self, pool: str, **extra_env: str) -> Supervised:
        self.started += 1
        name = f"{pool}-w{self.started}"
        stop_timeout = FleetTiming.from_env({**self.env, **extra_env}.get).stop_timeout
        return self.group.start(
            name,
            gpu_worker_command(pool=pool, name=name),
            log_dir=self.log_dir,
            env={**self.env, **extra_env},
            stop_timeout=stop_timeout,
        )

    def records(self) -> list[dict[str, Any]]:
        import redis

        client = redis.Redis.from_url(self.env["REDIS_URL"], decode_responses=True)
        ids: list[str] = list(client.zrangebyscore(fleet.WORKERS_KEY, time.time() - 3, "+inf"))  # type: ignore[arg-type]
        raw = client.mget([fleet.WORKER_KEY.format(worker_id=i) for i in ids]) if ids else []
        return [json.loads(r) for r in raw if r]

    def wait_ready(self, member: Supervised, timeout: float = 120) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            if not member.alive():
                raise AssertionError(f"worker {member.name} died:\n{member.tail(60)}")
            for record in self.records():
                if record["id"].startswith(f"{member.name}@") and record["state"] == "ready":
                    return record
            return None

        found: list[dict[str, Any]] = []

        def check() -> bool:
            record = ready()
            if record is not None:
                found.append(record)
            return record is not None

        wait_for(check, timeout=timeout, what=member.name)
        return found[-1]

    def kill(self, member: Supervised) -> None:
        """SIGKILL the worker's whole process group: no drain, no goodbye, as a crash or OOM kill."""
        if member.process is not None:
            try:
                os.killpg(member.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            member.process.wait(10)

    def stop(self) -> None:
        self.group.stop()


@contextmanager
def reaper_pump(interval: float = 1.0) -> Iterator[None]:
    """Run the reaper task on the real control worker every `interval` seconds meanwhile."""
    from api_service.celery import app

    stop = threading.Event()

    def pump() -> None:
        while not stop.wait(interval):
            app.send_task("crucible.control.reap", queue="control")

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
