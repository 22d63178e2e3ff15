"""The tiny SD3 / SD3.5 files of the test model store, under the names ComfyUI's SD3 examples load, and
those examples as ComfyUI's "Export (API)" writes them (tests/e2e/comfyui_workflows/sd3/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SD3_WORKFLOWS = Path(__file__).resolve().parents[1] / "e2e" / "comfyui_workflows" / "sd3"


def write_sd3_models(root: Path) -> None:
    """diffusion_models/sd3.5_medium + sd3_medium, checkpoints/sd3.5_large + the all-in-one
    sd3.5_medium_incl_clips_t5xxlfp8scaled, text_encoders/clip_g (clip_l, t5xxl_fp16 shared with FLUX)
    and vae/sd3_vae, all .safetensors, into the model store at `root`."""
    from tiny_models.sd3 import write_tiny_sd3_store

    write_tiny_sd3_store(root, seed=0)


def sd3_workflow(name: str) -> dict[str, Any]:
    return json.loads((SD3_WORKFLOWS / f"{name}.json").read_text())
