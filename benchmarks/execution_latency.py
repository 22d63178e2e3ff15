"""Execution latency through the whole platform: cold first run, warm new seed, identical rerun.

Starts real services and processes (as the test suite does), runs a small text-to-image workflow
on the tiny random checkpoint, and prints the figures side by side with their ratios. A second
workflow puts a LoRA in front of the sampler and changes its strength on every run: the base
weights stay in the model cache and only the patch, the prompts and the sampler are redone.

    .venv/bin/python -m benchmarks.execution_latency [--runs 5] [--steps 20] [--size 256]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    from tests.support.graphs import TINY_CHECKPOINT, text_to_image
    from tests.support.services import drop_database, start_services
    from tiny_models.lora import write_tiny_lora
    from tiny_models.sd15 import write_tiny_sd15_diffusers

    tmp = Path(tempfile.mkdtemp(prefix="crucible-bench-"))
    checkpoint = write_tiny_sd15_diffusers(tmp / "models" / "checkpoints" / TINY_CHECKPOINT)
    write_tiny_lora(tmp / "models" / "loras" / "bench-lora.safetensors", checkpoint_dir=checkpoint, seed=1)
    services = start_services(tmp)
    env = {
        **services.env,
        "MODELS_DIR": str(tmp / "models"),
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "GPU_WORKER_DEVICE": os.environ.get("GPU_WORKER_DEVICE", "auto"),
        "DATA_DIR": str(tmp / "data"),
        "HF_HUB_OFFLINE": "1",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api_service.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from api_service.core import storage
    from tests.support.api import ApiClient
    from tests.support.factories import make_key, make_tenant
    from tests.support.stack import start_stack

    storage.bucket_ensure()
    stack = start_stack(env, tmp / "logs")
    try:
        api = ApiClient(stack.base_url, make_key(make_tenant(requests_per_minute_override=100_000)))
        graph = text_to_image(**{"3": {"steps": args.steps}, "5": {"width": args.size, "height": args.size}})
        workflow = api.create_workflow(graph, {"seed": {"node": "3", "input": "seed"}})

        lora_graph = with_lora(graph)
        lora_workflow = api.create_workflow(
            lora_graph, {"strength": {"node": "10", "input": "strength_model"}}
        )

        def timed(workflow_id: str, inputs: dict) -> float:
            start = time.perf_counter()
            result = api.wait(api.execute(workflow_id, inputs), timeout=600)
            assert result["status"] == "COMPLETED", result
            return time.perf_counter() - start

        cold = timed(workflow["id"], {"seed": 0})
        warm = [timed(workflow["id"], {"seed": seed}) for seed in range(1, args.runs + 1)]
        same = [timed(workflow["id"], {"seed": 1}) for _ in range(args.runs)]
        timed(lora_workflow["id"], {"strength": 0.5})  # reads the LoRA file once
        lora = [timed(lora_workflow["id"], {"strength": 0.6 + run / 10}) for run in range(args.runs)]
    finally:
        stack.group.stop()
        drop_database(services)
        services.stop()

    warm_median, same_median = statistics.median(warm), statistics.median(same)
    lora_median = statistics.median(lora)
    shape = f"{args.size}x{args.size}, {args.steps} steps"
    print(f"\nexecution latency, {shape}, tiny random SD1.5, from submit to COMPLETED")
    print(f"{'case':<34}{'seconds':>10}{'vs cold':>10}")
    print(f"{'cold first execution':<34}{cold:>10.3f}{1.0:>10.2f}")
    print(f"{'warm, new seed (median)':<34}{warm_median:>10.3f}{warm_median / cold:>10.2f}")
    print(f"{'identical re-execution (median)':<34}{same_median:>10.3f}{same_median / cold:>10.2f}")
    print(f"{'warm, new LoRA strength (median)':<34}{lora_median:>10.3f}{lora_median / cold:>10.2f}")
    print(f"cold / warm = {cold / warm_median:.1f}x; warm / identical = {warm_median / same_median:.2f}x")
    print(f"new LoRA strength / new seed = {lora_median / warm_median:.2f}x (no checkpoint reload)")
    return 0


def with_lora(graph: dict) -> dict:
    """`graph` with a LoraLoader (node 10) between the checkpoint and the sampler and prompts."""
    graph = copy.deepcopy(graph)
    graph["10"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "bench-lora.safetensors",
            "strength_model": 1.0,
            "strength_clip": 1.0,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
    }
    graph["3"]["inputs"]["model"] = ["10", 0]
    graph["6"]["inputs"]["clip"] = graph["7"]["inputs"]["clip"] = ["10", 1]
    return graph


if __name__ == "__main__":
    raise SystemExit(main())
