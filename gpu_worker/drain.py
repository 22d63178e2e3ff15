"""SIGTERM in a gpu worker: take no new work, finish the run within a grace period, or hand it back
to the fleet at its next step (the control plane queues the next attempt elsewhere at once), then exit.

The worker is Celery's prefork pool with one child. Its main process turns SIGTERM into a warm
shutdown: it stops consuming and waits for the running task. The child, where the run goes on, would
die of the same signal (a supervisor signals the whole process group): billiard sets its handler to
exit after the child's initializer ran, except for a signal the initializer set to SIG_IGN. So:

- `protect_child()` (in worker_process_init) ignores SIGTERM in the child until it takes a run; an
  idle child then simply leaves when the main process closes the pool;
- `install()` (as each run starts, after billiard's reset) makes SIGTERM request the drain;
- `forward_to_children()` (the main process's worker_shutting_down) signals the child too, for a
  SIGTERM sent to the main process only (Kubernetes, the launcher); and a SIGTERM that reached only
  the child is passed up to the main process, so either way the whole worker drains.
The handler only sets flags and sends signals: Redis and logging run on a thread of their own (the
main thread may be interrupted inside a Redis call holding its connection pool's lock).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Drain:
    def __init__(self) -> None:
        self.requested_at: float | None = None
        self.grace = 0.0

    def request(self) -> bool:
        """True the first time: the drain starts now."""
        if self.requested_at is None:
            self.requested_at = time.monotonic()
            return True
        return False

    @property
    def requested(self) -> bool:
        return self.requested_at is not None

    def expired(self) -> bool:
        """True once the grace after SIGTERM ran out: the current run is to be handed back."""
        return self.requested_at is not None and time.monotonic() - self.requested_at > self.grace


DRAIN = Drain()
_installed: list[bool] = []
_forwarded: list[bool] = []


def protect_child() -> None:
    """In the pool child, before billiard resets its signals: keep SIGTERM from ending it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def install(*, grace: float, parent_pid: int | None, on_request: Callable[[], Any] = lambda: None) -> None:
    """SIGTERM requests the drain from now on (idempotent; call from the process's main thread)."""
    DRAIN.grace = grace
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed.append(True)

    def handler(signum: int, frame: object) -> None:
        if not DRAIN.request():
            return
        if parent_pid is not None and parent_pid == os.getppid():
            # The signal may have reached only this child: the main process must stop consuming too.
            os.kill(parent_pid, signal.SIGTERM)
        threading.Thread(target=_announce, args=(grace, on_request), daemon=True).start()

    signal.signal(signal.SIGTERM, handler)


def _announce(grace: float, on_request: Callable[[], Any]) -> None:
    log.warning("SIGTERM: draining; the running run has %.0f s to finish, else it is handed back", grace)
    try:
        on_request()
    except Exception:
        log.warning("could not announce the drain", exc_info=True)


def forward_to_children() -> None:
    """In the main process, on its warm shutdown: the pool child that runs the execution drains too."""
    if _forwarded:
        return
    _forwarded.append(True)
    from billiard.process import active_children

    for child in active_children():
        if child.pid:
            try:
                os.kill(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
