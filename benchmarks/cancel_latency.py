"""Cancel latency inside long nodes: seconds from the cancel flag to the gpu worker's run returning.

Runs the worker's execution code in this process (real Redis and S3, no Celery) on the tiny random
SD1.5, raises the execution's cancel flag half a second after the run enters the node named by each
case, and prints how long the run went on. The sampler case is the reference: it has always checked
between steps. Run it against an older checkout (PYTHONPATH) for a before/after table.

    .venv/bin/python -m benchmarks.cancel_latency [--cases vae_decode,text_encode] [--size 2048]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def cases(size: int) -> dict[str, tuple[str, dict]]:
    from tests.support.graphs import TINY_CHECKPOINT, text_to_image

    def graph(**node_inputs: dict) -> dict:
        built = text_to_image(**node_inputs)
        built["4"]["inputs"]["ckpt_name"] = TINY_CHECKPOINT
        return built

    sampler = graph(**{"3": {"steps": 10_000}})
    text = graph(**{"6": {"text": "a photo of a cat " * 40_000}})  # 680 kB, 200k tokens
    decode = graph(**{"5": {"width": size, "height": size}})
    decode["8"]["inputs"]["samples"] = ["5", 0]
    encode = graph(**{"5": {"width": size, "height": size}})
    encode["8"]["inputs"]["samples"] = ["5", 0]
    encode["10"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["4", 2]}}
    encode["11"] = {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["4", 2]}}
    encode["9"]["inputs"]["images"] = ["11", 0]
    upscale = graph(**{"5": {"width": 512, "height": 512}})
    upscale["8"]["inputs"]["samples"] = ["5", 0]
    upscale["10"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "x4.safetensors"}}
    upscale["11"] = {
        "class_type": "ImageUpscaleWithModel",
        "inputs": {"upscale_model": ["10", 0], "image": ["8", 0]},
    }
    upscale["9"]["inputs"]["images"] = ["11", 0]
    return {
        "sampler": ("KSampler", sampler),
        "text_encode": ("CLIPTextEncode", text),
        "vae_decode": ("VAEDecode", decode),
        "vae_encode": ("VAEEncode", encode),
        "upscale": ("ImageUpscaleWithModel", upscale),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="sampler,text_encode,vae_decode,vae_encode,upscale")
    parser.add_argument("--size", type=int, default=2048, help="image side for the VAE cases")
    args = parser.parse_args()

    from tests.support.graphs import TINY_CHECKPOINT
    from tests.support.services import drop_database, start_services
    from tiny_models.sd15 import write_tiny_sd15_diffusers
    from tiny_models.upscaler import write_tiny_esrgan

    tmp = Path(tempfile.mkdtemp(prefix="crucible-bench-"))
    write_tiny_sd15_diffusers(tmp / "models" / "checkpoints" / TINY_CHECKPOINT)
    write_tiny_esrgan(tmp / "models" / "upscale_models" / "x4.safetensors", seed=0, scale=4, layout="new")
    services = start_services(tmp)
    os.environ.update({**services.env, "SECRET_KEY": "bench", "DATA_DIR": str(tmp / "data")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api_service.settings")
    import django

    django.setup()
    from api_service.core import storage
    from tests.support.worker_runtime import in_node, run_attempt, worker_runtime

    storage.bucket_ensure()
    rows = []
    try:
        runtime = worker_runtime(tmp / "models")
        table = cases(args.size)
        for name in args.cases.split(","):
            class_type, graph = table[name]
            attempt = run_attempt(runtime, graph, cancel_when=in_node(class_type), cancel_delay=0.5)
            rows.append((name, class_type, attempt.outcome, attempt.stop_latency, attempt.seconds))
    finally:
        drop_database(services)
        services.stop()

    print(f"\ncancel latency inside one node, tiny random SD1.5 on {runtime.device}, VAE cases {args.size}px")
    print(f"{'case':<14}{'node':<24}{'outcome':<11}{'stop after flag (s)':>20}{'run (s)':>10}")
    for name, class_type, outcome, latency, seconds in rows:
        shown = f"{latency:.2f}" if latency is not None else "never raised"
        print(f"{name:<14}{class_type:<24}{outcome:<11}{shown:>20}{seconds:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
