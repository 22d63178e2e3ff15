"""What the per-step benchmarks (flux_step_overhead.py, sd3_step_overhead.py) share: our sampling path
and diffusers' pipeline timed in alternating rounds after a warm-up of each, and the report."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def pick_device(requested: str) -> str:
    import torch

    return requested if requested != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")


def ms_per_step(
    runs: dict[str, Callable[[], Any]], *, rounds: int, steps: int, device: str
) -> dict[str, float]:
    """Median milliseconds per step of each run, the runs alternating round by round."""
    import torch

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    timings: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up: kernels, allocator, caches
        run()
    for _ in range(rounds):
        for name, run in runs.items():
            sync()
            start = time.perf_counter()
            run()
            sync()
            timings[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(values) * 1000 for name, values in timings.items()}


def report(title: str, ms: dict[str, float], difference: float) -> None:
    print(title)
    print(f"  ours      {ms['ours']:9.2f} ms/step")
    print(f"  diffusers {ms['diffusers']:9.2f} ms/step")
    print(f"  ratio     {ms['ours'] / ms['diffusers']:9.3f} (ours / diffusers)")
    print(f"  same latent: largest difference {difference:.2e}")
