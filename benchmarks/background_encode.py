"""Encoding off the GPU's critical path: two back-to-back video runs, files encoded inline or on the
worker's background encoder thread.

Runs the worker's execution code in this process (real Redis and S3, no Celery) on the tiny random
SD1.5: each run samples a batch of frames, then `SaveVideo` (H.264 MP4) and `SaveWEBM` (VP9) store
them. Inline, each run returns (and the next one starts) only after its files are encoded and
uploaded; in the background, the worker takes the second run while the first one's files are still
being written. Printed: when the worker was free for a third run, and when both runs were COMPLETED,
with the ratio background / inline. On a CPU-only machine the sampler and the encoder share the same
cores, so the overlap gains less than on a GPU worker, where sampling does not use them.

    .venv/bin/python -m benchmarks.background_encode [--frames 24] [--size 192] [--steps 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def video_graph(*, frames: int, size: int, steps: int, seed: int) -> dict[str, Any]:
    from tests.support.graphs import TINY_CHECKPOINT, text_to_image

    graph = text_to_image(
        **{"3": {"steps": steps, "seed": seed}, "5": {"width": size, "height": size, "batch_size": frames}}
    )
    graph["4"]["inputs"]["ckpt_name"] = TINY_CHECKPOINT
    del graph["9"]
    graph["20"] = {"class_type": "CreateVideo", "inputs": {"images": ["8", 0], "fps": 24.0}}
    graph["21"] = {
        "class_type": "SaveVideo",
        "inputs": {"video": ["20", 0], "filename_prefix": "bench", "format": "mp4", "codec": "h264"},
    }
    graph["22"] = {
        "class_type": "SaveWEBM",
        "inputs": {"images": ["8", 0], "filename_prefix": "bench", "codec": "vp9", "fps": 24.0, "crf": 32.0},
    }
    return graph


def back_to_back(runtime: Any, graphs: list[dict[str, Any]]) -> tuple[float, float]:
    """(seconds until the worker was free for another run, seconds until every run was COMPLETED)."""
    from gpu_worker.execution import execution_run
    from nodes.graph import output_node_ids
    from protocol.messages import COMPLETED, RunSpec

    completed: list[float] = []
    all_done = threading.Event()

    def emit(event: dict[str, Any]) -> None:
        if event["type"] == COMPLETED:
            completed.append(time.monotonic())
            if len(completed) == len(graphs):
                all_done.set()
        elif event["type"] != "started":
            raise AssertionError(f"the run did not complete: {event}")

    start = time.monotonic()
    for graph in graphs:
        execution_id = f"exe_{uuid.uuid4().hex}"
        spec = RunSpec(
            execution_id=execution_id,
            attempt=1,
            tenant_id="t_bench",
            graph=graph,
            output_node_ids=output_node_ids(graph, runtime.registry),
            storage_prefix=f"tenants/t_bench/executions/{execution_id}/",
        )
        execution_run(spec=spec, runtime=runtime, emit=emit, worker_name="bench")
    free = time.monotonic() - start
    if not all_done.wait(600):
        raise AssertionError("the runs' files were never stored")
    return free, max(completed) - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="cap torch's CPU threads (0: torch's default); on a CPU-only machine a cap leaves the "
        "encoder a core of its own, as a GPU worker's sampling does",
    )
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)

    from tests.support.graphs import TINY_CHECKPOINT
    from tests.support.services import drop_database, start_services
    from tiny_models.sd15 import write_tiny_sd15_diffusers

    tmp = Path(tempfile.mkdtemp(prefix="crucible-bench-"))
    write_tiny_sd15_diffusers(tmp / "models" / "checkpoints" / TINY_CHECKPOINT)
    services = start_services(tmp)
    os.environ.update({**services.env, "SECRET_KEY": "bench", "DATA_DIR": str(tmp / "data")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api_service.settings")
    import django

    django.setup()
    from api_service.core import storage
    from gpu_worker.encoder import ArtifactEncoder
    from tests.support.worker_runtime import worker_runtime

    storage.bucket_ensure()
    results: dict[str, list[tuple[float, float]]] = {"inline": [], "background": []}
    seed = iter(range(1, 1000))  # a new seed per run: the node result cache never answers for one
    try:
        runtime = worker_runtime(tmp / "models")
        shape = {"frames": args.frames, "size": args.size, "steps": args.steps}
        back_to_back(runtime, [video_graph(**shape, seed=next(seed))])  # warm: models loaded, codecs opened
        for _ in range(args.repeats):  # alternated, so drift in the machine's load hits both alike
            for mode in ("inline", "background"):
                runtime.encoder = ArtifactEncoder() if mode == "background" else None
                graphs = [video_graph(**shape, seed=next(seed)) for _ in range(2)]
                results[mode].append(back_to_back(runtime, graphs))
                if runtime.encoder is not None:
                    runtime.encoder.drain()
    finally:
        drop_database(services)
        services.stop()

    print(
        f"\ntwo back-to-back video runs ({args.frames} frames of {args.size}x{args.size}, {args.steps} "
        f"steps, MP4 + WebM each), tiny random SD1.5 on {runtime.device}, median of {args.repeats}"
    )
    threads = f", torch on {args.torch_threads} thread(s)" if args.torch_threads else ""
    print(f"cores: {os.cpu_count()}{threads}; load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'':<36}{'inline (s)':>12}{'background (s)':>16}{'ratio':>8}")
    for index, label in ((0, "worker free for the next run"), (1, "both runs COMPLETED")):
        inline = statistics.median(r[index] for r in results["inline"])
        background = statistics.median(r[index] for r in results["background"])
        print(f"{label:<36}{inline:>12.2f}{background:>16.2f}{background / inline:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
