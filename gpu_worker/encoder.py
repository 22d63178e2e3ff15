"""Encoding and uploading a run's output files off the GPU's critical path.

A node hands its frames (already on the CPU, as arrays) to `save_artifact`; the encode and the
upload run on one background thread, first in, first out. When the run's nodes are done, its
terminal event is queued behind its files: the execution is COMPLETED only once they are stored,
while this process already takes the next run. At most `max_pending_runs` runs wait for their files
(then the next one waits before it starts), so the frames held in memory stay bounded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class ArtifactFailed(Exception):
    """Encoding or storing one output file failed; `node_id` names the node whose file it was."""

    def __init__(self, node_id: str) -> None:
        super().__init__(f"the output file of node {node_id!r} could not be encoded or stored")
        self.node_id = node_id


class ArtifactEncoder:
    def __init__(self, *, max_pending_runs: int = 2) -> None:
        if max_pending_runs < 1:
            raise ValueError(f"max_pending_runs must be at least 1, got {max_pending_runs}")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="artifact-encoder")
        self._slots = threading.BoundedSemaphore(max_pending_runs)

    def submit(self, job: Callable[[], None]) -> Future[None]:
        """Run `job` (an encode and its upload) after every job submitted before it."""
        return self._pool.submit(job)

    def finish_run(self, jobs: list[Future[None]], finish: Callable[[BaseException | None], None]) -> None:
        """Call `finish` with the first job's error (None if all stored) once the run's jobs are done.

        Blocks while `max_pending_runs` runs already wait for their files: back pressure on the queue.
        """
        self._slots.acquire()

        def settle() -> None:
            try:
                error = next((f.exception() for f in jobs if f.exception() is not None), None)
                finish(error)
            except Exception:
                log.exception("settling a run after its files were stored failed")
            finally:
                self._slots.release()

        self._pool.submit(settle)

    def drain(self) -> None:
        """Wait for every queued job (at shutdown: no run is left without its terminal event)."""
        self._pool.shutdown(wait=True)
