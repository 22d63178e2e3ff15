"""Live progress of a running execution, published to Redis for poll to read."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from gpu_worker.protocol import PROGRESS_KEY

log = logging.getLogger(__name__)
PROGRESS_TTL_SECONDS = 3600
MIN_INTERVAL_SECONDS = 0.2  # sampler steps can be very fast; poll does not need each one


class ProgressReporter:
    def __init__(self, redis: Any, execution_id: str, nodes_total: int) -> None:
        self._redis = redis
        self._key = PROGRESS_KEY.format(execution_id=execution_id)
        self._nodes_total = nodes_total
        self._nodes_done = 0
        self._node: tuple[str, str] | None = None
        self._last_write = 0.0

    def node_started(self, node_id: str, class_type: str) -> None:
        self._node = (node_id, class_type)
        self._write(None, None, force=True)

    def clear(self) -> None:
        try:
            self._redis.delete(self._key)
        except Exception:
            log.warning("could not clear progress in Redis", exc_info=True)

    def node_finished(self) -> None:
        self._nodes_done += 1

    def step(self, step: int, total: int) -> None:
        self._write(step, total, force=step >= total)

    def _write(self, step: int | None, total: int | None, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < MIN_INTERVAL_SECONDS:
            return
        self._last_write = now
        node_id, class_type = self._node or (None, None)
        fraction = self._nodes_done / self._nodes_total if self._nodes_total else 0.0
        if step is not None and total:
            fraction += (step / total) / self._nodes_total
        payload = {
            "node": node_id,
            "classType": class_type,
            "step": step,
            "steps": total,
            "nodesDone": self._nodes_done,
            "nodesTotal": self._nodes_total,
            "fraction": round(min(fraction, 1.0), 4),
        }
        try:
            self._redis.set(self._key, json.dumps(payload), ex=PROGRESS_TTL_SECONDS)
        except Exception:  # progress is best effort: a Redis blip must not fail the execution
            log.warning("could not publish progress to Redis", exc_info=True)
