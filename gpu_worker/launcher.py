"""Starts one Celery worker process per GPU (CUDA_VISIBLE_DEVICES pins each), or one on the CPU.

    python -m gpu_worker.launcher --pool sdxl-24g [--gpus 0,1] [--warmup warmup.json]

Each process runs one execution at a time (concurrency 1, prefetch 1, late ack), keeps its own model
cache warm across executions and announces itself to the fleet (GET /v1/pools). SIGTERM drains:
no new work, the running execution finishes within DRAIN_GRACE_SECONDS or is handed back.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys


def visible_gpus() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    listed = [line for line in out.stdout.splitlines() if line.startswith("GPU ")]
    return [str(i) for i in range(len(listed))]


def worker_argv(pool: str, name: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "gpu_worker.celery_app:app", "worker",
        "-Q", f"gpu.{pool}", "-c", "1", "--prefetch-multiplier", "1",
        "-n", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def parse_gpus(value: str | None) -> list[str] | None:
    """`--gpus 0,2`: those GPUs; `--gpus none`: the CPU; absent: every visible GPU."""
    if value is None:
        return None
    if value.strip().lower() in ("none", "cpu"):
        return []
    gpus = [part.strip() for part in value.split(",") if part.strip()]
    if not gpus or not all(g.isdigit() for g in gpus):
        raise SystemExit(f"--gpus takes GPU indices such as 0,1 (or none), got {value!r}")
    return gpus


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--pool", default=os.environ.get("GPU_WORKER_POOL", "default"))
    parser.add_argument("--name", default="gpu")
    parser.add_argument("--gpus", default=None, help="GPU indices to use, e.g. 0,1 (default: all visible)")
    parser.add_argument("--warmup", default=None, help="a workflow (API-format JSON) to run before ready")
    args = parser.parse_args()
    gpus = parse_gpus(args.gpus)
    gpus = visible_gpus() if gpus is None else gpus
    env = {**os.environ, "GPU_WORKER_POOL": args.pool}
    if args.warmup:
        env["GPU_WORKER_WARMUP"] = os.path.abspath(args.warmup)
    if not gpus:
        env["CRUCIBLE_WORKER_NAME"] = args.name
        os.execvpe(sys.executable, worker_argv(args.pool, args.name), env)
    children = [
        subprocess.Popen(
            worker_argv(args.pool, f"{args.name}{i}"),
            env={
                **env,
                "CUDA_VISIBLE_DEVICES": gpu,
                "GPU_WORKER_DEVICE": "cuda",
                "CRUCIBLE_WORKER_NAME": f"{args.name}{i}",
            },
        )
        for i, gpu in enumerate(gpus)
    ]

    def forward(signum: int, frame: object) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


if __name__ == "__main__":
    raise SystemExit(main())
