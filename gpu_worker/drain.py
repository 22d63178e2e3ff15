"""SIGTERM in a gpu worker process: take no new work, finish the run within a grace period, or hand it
back to the fleet at its next step (the control plane queues the next attempt elsewhere).

Celery's warm shutdown (its main process on SIGTERM) stops consuming and waits for the running task;
the pool's child running it would die of the same signal, so it catches it here instead.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Drain:
    def __init__(self) -> None:
        self.requested_at: float | None = None
        self.grace = 0.0

    def request(self) -> None:
        if self.requested_at is None:
            self.requested_at = time.monotonic()

    @property
    def requested(self) -> bool:
        return self.requested_at is not None

    def expired(self) -> bool:
        """True once the grace after SIGTERM ran out: the current run is to be handed back."""
        return self.requested_at is not None and time.monotonic() - self.requested_at > self.grace


DRAIN = Drain()


def install(*, grace: float, on_request: Callable[[], Any] = lambda: None) -> None:
    DRAIN.grace = grace

    def handler(signum: int, frame: object) -> None:
        log.warning("SIGTERM: draining; a running run has %.0f s to finish, else it is handed back", grace)
        DRAIN.request()
        on_request()

    signal.signal(signal.SIGTERM, handler)
