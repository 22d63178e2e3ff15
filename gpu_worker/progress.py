"""Live progress of a running execution: the snapshot poll reads, and node events for the SSE log.

One Redis round trip per write (a pipeline): the snapshot under PROGRESS_KEY, and an entry in the
execution's event stream (protocol/events.py). Sampler steps are throttled to a few a second; node
starts and ends always go out.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from protocol import events
from protocol.messages import PROGRESS_KEY

log = logging.getLogger(__name__)
PROGRESS_TTL_SECONDS = 3600
MIN_INTERVAL_SECONDS = 0.2  # sampler steps can be very fast; poll and streams do not need each one


class ProgressReporter:
    def __init__(self, redis: Any, execution_id: str, nodes_total: int, attempt: int = 1) -> None:
        self._redis = redis
        self._key = PROGRESS_KEY.format(execution_id=execution_id)
        self._events = events.EVENTS_KEY.format(execution_id=execution_id)
        self._attempt = attempt
        self._nodes_total = nodes_total
        self._nodes_done = 0
        self._node: tuple[str, str] | None = None
        self._last_write = 0.0

    def node_started(self, node_id: str, class_type: str) -> None:
        self._node = (node_id, class_type)
        self._write(None, None, force=True, event=events.NODE_STARTED)

    def clear(self) -> None:
        try:
            self._redis.delete(self._key)
        except Exception:
            log.warning("could not clear progress in Redis", exc_info=True)

    def node_finished(self) -> None:
        self._nodes_done += 1
        if self._node is not None:
            node_id, class_type = self._node
            self._append(events.NODE_COMPLETED, {"node": node_id, "classType": class_type, "cached": False})

    def node_cached(self, node_id: str, class_type: str) -> None:
        """A node whose result came from the cache: done without running."""
        self._nodes_done += 1
        self._append(events.NODE_COMPLETED, {"node": node_id, "classType": class_type, "cached": True})

    def step(self, step: int, total: int) -> None:
        self._write(step, total, force=step >= total, event=events.NODE_PROGRESS)

    def _write(self, step: int | None, total: int | None, *, force: bool, event: str) -> None:
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
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(self._key, json.dumps(payload), ex=PROGRESS_TTL_SECONDS)
            self._queue_event(pipe, event, payload)
            pipe.execute()
        except Exception:  # progress is best effort: a Redis blip must not fail the execution
            log.warning("could not publish progress to Redis", exc_info=True)

    def _append(self, event: str, data: dict[str, Any]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            self._queue_event(pipe, event, data)
            pipe.execute()
        except Exception:
            log.warning("could not append %s to the event log", event, exc_info=True)

    def _queue_event(self, pipe: Any, event: str, data: dict[str, Any]) -> None:
        entry = {"type": event, "data": json.dumps({**data, "attempt": self._attempt})}
        pipe.xadd(self._events, entry, maxlen=events.EVENTS_MAX_LEN, approximate=True)
        pipe.expire(self._events, events.EVENTS_TTL_SECONDS)
