"""Peak memory while loading a REAL-SIZE SD1.5 single file on the CPU: our loader beside diffusers' own.

Writes a random-weight SD1.5 checkpoint of the real architecture (the SD1.5 configs the loader ships;
about 4.3 GB in float32) with the tiny-model writers into a temporary folder, then loads it in fresh
processes, interleaved, with (a) the worker's loader (nodes.diffusion.loading.load_checkpoint, as
CheckpointLoaderSimple calls it) and (b) diffusers' StableDiffusionPipeline.from_single_file with the
same configs, offline. Each process reports its peak RSS (getrusage) and the RSS after imports, before
loading; the figures are printed side by side with the ratio. The folder is deleted afterwards.

    .venv/bin/python -m benchmarks.model_load_memory [--rounds 2] [--format safetensors|ckpt]

Needs about 10 GB of free memory and 5 GB of disk. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# getrusage's ru_maxrss survives exec (a child of a large parent starts "large"): VmHWM does not.
_PROBE = """
import json, sys, time
from pathlib import Path

def high_water_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

which, path, config = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
import torch, diffusers, transformers  # imports count in both: measured before loading
from nodes.diffusion.loading import load_checkpoint
before = high_water_kb()
start = time.perf_counter()
if which == "ours":
    loaded = load_checkpoint(path, "cpu")
else:
    loaded = diffusers.StableDiffusionPipeline.from_single_file(
        str(path), config=config, local_files_only=True, torch_dtype=torch.float32,
        safety_checker=None, requires_safety_checker=False,
    )
seconds = time.perf_counter() - start
peak = high_water_kb()
print(json.dumps({"peak_kb": peak, "imports_kb": before, "seconds": seconds}))
"""


_WRITE = """
import sys
from pathlib import Path
from tiny_models.sd15 import write_full_size_sd15_single_file
write_full_size_sd15_single_file(Path(sys.argv[1]), seed=0)
"""


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": root}


def pipeline_config(folder: Path) -> Path:
    """The shipped SD1.5 configs as a diffusers pipeline folder: model_index.json and CLIP's tokenizer."""
    from nodes.diffusion.clip_vocab import bundled_tokenizer_dir
    from nodes.diffusion.single_file import DEFAULT_CONFIG_DIR

    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    tokenizer = bundled_tokenizer_dir(DEFAULT_CONFIG_DIR / "tokenizer")
    if tokenizer is None:
        raise SystemExit("CLIP's tokenizer files are missing: install open_clip_torch (make does).")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(tokenizer / name, folder / "tokenizer" / name)
    index = {
        "_class_name": "StableDiffusionPipeline",
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


def measure(which: str, path: Path, config: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, which, str(path), str(config)],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved pairs (default 2)")
    parser.add_argument("--format", choices=("safetensors", "ckpt"), default="safetensors")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="crucible-load-memory-"))
    try:
        start = time.perf_counter()
        path = tmp / f"v1-5-random.{args.format}"
        # Written in a process of its own, so this one stays small (its children inherit nothing).
        subprocess.run([sys.executable, "-c", _WRITE, str(path)], check=True, env=_env())
        size = path.stat().st_size
        print(f"wrote {path.name}: {size / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s")
        config = pipeline_config(tmp / "pipeline-config")
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "diffusers": []}
        for _ in range(args.rounds):
            for which in ("ours", "diffusers"):
                runs[which].append(measure(which, path, config))
        report(runs, size, args.format)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(runs: dict[str, list[dict[str, float]]], size: int, fmt: str) -> None:
    def gb(kb: float) -> float:
        return kb * 1024 / 1e9

    print(f"\npeak RSS loading a real-size SD1.5 single file (.{fmt}, {size / 1e9:.2f} GB), fp32, CPU")
    print(f"{'loader':<52}{'peak GB':>9}{'imports GB':>12}{'load GB':>9}{'seconds':>9}")
    medians = {}
    for which, label in (
        ("ours", "ours (load_checkpoint)"),
        ("diffusers", "diffusers StableDiffusionPipeline.from_single_file"),
    ):
        peak = statistics.median(r["peak_kb"] for r in runs[which])
        imports = statistics.median(r["imports_kb"] for r in runs[which])
        seconds = statistics.median(r["seconds"] for r in runs[which])
        medians[which] = (peak, imports)
        print(f"{label:<52}{gb(peak):>9.2f}{gb(imports):>12.2f}{gb(peak - imports):>9.2f}{seconds:>9.1f}")
    (ours, ours_imports), (theirs, their_imports) = medians["ours"], medians["diffusers"]
    print(f"peak ours / diffusers = {ours / theirs:.3f}")
    print(f"above imports, ours / diffusers = {(ours - ours_imports) / (theirs - their_imports):.3f}")
    print("per run (peak GB): " + ", ".join(f"{w} {gb(r['peak_kb']):.2f}" for w in runs for r in runs[w]))


if __name__ == "__main__":
    sys.exit(main())
