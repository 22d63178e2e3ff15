"""The tiny FLUX.1 files of the test model store, under the names ComfyUI's FLUX examples load, and
those examples as ComfyUI's "Export (API)" writes them (tests/e2e/comfyui_workflows/flux/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FLUX_WORKFLOWS = Path(__file__).resolve().parents[1] / "e2e" / "comfyui_workflows" / "flux"


def write_flux_models(root: Path) -> None:
    """diffusion_models/flux1-{dev,schnell}, text_encoders/{clip_l,t5xxl_fp16}, vae/ae and
    checkpoints/flux1-dev-fp8, all .safetensors, into the model store at `root`."""
    from tiny_models.flux import write_tiny_flux_store

    write_tiny_flux_store(root, seed=0)


def flux_workflow(name: str) -> dict[str, Any]:
    return json.loads((FLUX_WORKFLOWS / f"{name}.json").read_text())
