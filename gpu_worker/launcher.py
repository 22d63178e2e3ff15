"""Starts one Celery worker process per GPU (CUDA_VISIBLE_DEVICES pins each), or one on the CPU.

Each process runs one execution at a time (concurrency 1, prefetch 1, late
ack) and keeps its own model cache warm across executions.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys


def gpu_count() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return 0
    return len([line for line in out.stdout.splitlines() if line.startswith("GPU ")])


def worker_argv(pool: str, name: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "gpu_worker.celery_app:app", "worker",
        "-Q", f"gpu.{pool}", "-c", "1", "--prefetch-multiplier", "1",
        "-n", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", default=os.environ.get("GPU_WORKER_POOL", "default"))
    parser.add_argument("--name", default="gpu")
    parser.add_argument("--gpus", type=int, default=None, help="number of GPUs to use (default: all visible)")
    args = parser.parse_args()
    count = gpu_count() if args.gpus is None else args.gpus
    env = {**os.environ, "GPU_WORKER_POOL": args.pool}
    if count == 0:
        os.execvpe(sys.executable, worker_argv(args.pool, args.name), env)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", ",".join(str(i) for i in range(count))).split(",")
    children = [
        subprocess.Popen(
            worker_argv(args.pool, f"{args.name}{i}"),
            env={**env, "CUDA_VISIBLE_DEVICES": visible[i].strip(), "GPU_WORKER_DEVICE": "cuda"},
        )
        for i in range(count)
    ]

    def forward(signum: int, frame: object) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


if __name__ == "__main__":
    raise SystemExit(main())
