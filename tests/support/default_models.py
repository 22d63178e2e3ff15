"""Tiny models saved under the file names that ComfyUI's default and example workflows load.

So those workflows, exported in API format, run here byte for byte unchanged.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_CHECKPOINT = "v1-5-pruned-emaonly-fp16.safetensors"
# The name ComfyUI's default workflow had before the fp16 safetensors: a pickled training checkpoint.
DEFAULT_CKPT = "v1-5-pruned-emaonly.ckpt"


def write_default_models(root: Path) -> None:
    from tiny_models.sd15 import write_tiny_sd15_single_file

    write_tiny_sd15_single_file(root / "checkpoints" / DEFAULT_CHECKPOINT, seed=0)
    write_tiny_sd15_single_file(root / "checkpoints" / DEFAULT_CKPT, seed=0)  # same weights, .ckpt
