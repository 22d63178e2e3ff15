"""This worker process's heartbeat in the fleet registry (protocol/fleet.py), from a thread."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from protocol import fleet
from protocol.messages import PROTOCOL_VERSION

log = logging.getLogger(__name__)


class Announcer:
    """Publishes the worker's record every heartbeat interval, and at once when its state changes."""

    def __init__(self, redis: Any, *, pool: str, worker_id: str, interval: float, lease: float) -> None:
        self._redis, self._pool, self._interval, self._lease = redis, pool, interval, lease
        self._runtime: Any = None  # set once built: device and model cache figures come from it
        self.worker_id = worker_id
        self.state: fleet.WorkerState = "starting"
        self.execution: str | None = None
        self.warmup_error: str | None = None
        self._started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-announce", daemon=True)
        self._gpu: tuple[str | None, int | None] = (None, None)

    def attach(self, runtime: Any) -> None:
        """The runtime is built (device chosen, caches made): report its figures from now on."""
        self._runtime = runtime
        self._gpu = _gpu_facts(runtime.device)

    def start(self) -> None:
        self.publish()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._redis.zrem(fleet.WORKERS_KEY, self.worker_id)
            self._redis.delete(fleet.WORKER_KEY.format(worker_id=self.worker_id))
        except Exception:
            log.warning("could not leave the fleet registry", exc_info=True)

    def set(self, state: fleet.WorkerState, execution: str | None = None) -> None:
        self.state, self.execution = state, execution
        self.publish()

    def record(self) -> fleet.WorkerRecord:
        cache = self._runtime.models.stats() if self._runtime is not None else {}
        return {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pool": self._pool,
            "state": self.state,
            "protocolVersion": PROTOCOL_VERSION,
            "device": self._runtime.device if self._runtime is not None else "",
            "gpuIndex": os.environ.get("CUDA_VISIBLE_DEVICES") if self._gpu[0] else None,
            "gpuName": self._gpu[0],
            "gpuMemoryBytes": self._gpu[1],
            "execution": self.execution,
            "modelCache": {k: int(v) for k, v in cache.items()},
            "warmupError": self.warmup_error,
            "startedAt": self._started,
            "seenAt": time.time(),
        }

    def publish(self) -> None:
        record = self.record()
        try:
            pipe = self._redis.pipeline()
            key = fleet.WORKER_KEY.format(worker_id=self.worker_id)
            pipe.set(key, json.dumps(record), px=int(self._lease * 1000))
            pipe.zadd(fleet.WORKERS_KEY, {self.worker_id: record["seenAt"]})
            pipe.execute()
        except Exception:
            log.warning("fleet heartbeat not written: Redis did not answer")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.publish()


def _gpu_facts(device: str) -> tuple[str | None, int | None]:
    if not device.startswith("cuda"):
        return None, None
    import torch

    props = torch.cuda.get_device_properties(torch.device(device))
    return props.name, int(props.total_memory)
