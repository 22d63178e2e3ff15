"""The tiny Stable Video Diffusion checkpoints of the test model store, under the names ComfyUI's
SVD examples load (checkpoints/svd.safetensors, svd_xt.safetensors), and those examples as
ComfyUI's "Export (API)" writes them (tests/e2e/comfyui_workflows/svd/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SVD_WORKFLOWS = Path(__file__).resolve().parents[1] / "e2e" / "comfyui_workflows" / "svd"
SVD = "svd.safetensors"
SVD_XT = "svd_xt.safetensors"


def write_svd_models(root: Path) -> None:
    from tiny_models.svd import write_tiny_svd_store

    write_tiny_svd_store(root, seed=0)


def svd_workflow(name: str) -> dict[str, Any]:
    return json.loads((SVD_WORKFLOWS / f"{name}.json").read_text())
