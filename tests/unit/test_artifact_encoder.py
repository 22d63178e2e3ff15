"""The worker's background encoder: jobs in order, a run settled after its files, bounded backlog."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from gpu_worker.encoder import ArtifactEncoder


def test_a_run_is_settled_after_its_jobs_with_the_first_error() -> None:
    encoder = ArtifactEncoder(max_pending_runs=2)
    order: list[str] = []
    settled: list[BaseException | None] = []
    done = threading.Event()

    def job(name: str, fail: bool = False):
        def run() -> None:
            time.sleep(0.05)
            order.append(name)
            if fail:
                raise RuntimeError(f"{name} failed")

        return run

    first = [encoder.submit(job("a")), encoder.submit(job("b"))]

    def settle(name: str, then: threading.Event | None = None) -> Any:
        def record(error: BaseException | None) -> None:
            order.append(name)
            settled.append(error)
            if then is not None:
                then.set()

        return record

    encoder.finish_run(first, settle("settle 1"))
    second = [encoder.submit(job("c", fail=True)), encoder.submit(job("d"))]
    encoder.finish_run(second, settle("settle 2", done))
    assert done.wait(5)
    assert order == ["a", "b", "settle 1", "c", "d", "settle 2"]
    assert settled[0] is None and str(settled[1]) == "c failed"
    encoder.drain()


def test_the_backlog_of_runs_waiting_for_their_files_is_bounded() -> None:
    encoder = ArtifactEncoder(max_pending_runs=1)
    release = threading.Event()

    def hold() -> None:
        release.wait(5)

    encoder.finish_run([encoder.submit(hold)], lambda error: None)
    blocked = threading.Thread(target=lambda: encoder.finish_run([], lambda error: None))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # a second run waits while the first still encodes
    release.set()
    blocked.join(5)
    assert not blocked.is_alive()
    encoder.drain()
    with pytest.raises(ValueError, match="max_pending_runs"):
        ArtifactEncoder(max_pending_runs=0)
