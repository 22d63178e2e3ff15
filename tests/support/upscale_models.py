"""Tiny upscale models for the test model store (upscale_models/), and the graphs that use them.

They are saved under the names of the real files they imitate, in those files' key layouts, so
ComfyUI workflows that load them run unchanged. The weights are random.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.graphs import text_to_image

# Comfy-Org's repackaged Real-ESRGAN x4plus: BasicSR layout, flat .safetensors, 4x.
REALESRGAN_X4 = "RealESRGAN_x4plus.safetensors"
# xinntao's Real-ESRGAN x2plus release: BasicSR layout under "params_ema" in a .pth, 2x (pixel-unshuffle).
REALESRGAN_X2 = "RealESRGAN_x2plus.pth"
# A community upscaler in the original ESRGAN layout (model.0 ..., model.1.sub.N.RDB1 ...), .pth, 4x.
ESRGAN_OLD_X4 = "4x-UltraSharp.pth"
# A state dict spandrel recognises as no architecture: the loader must fail with a clear message.
NOT_AN_UPSCALER = "not-an-upscaler.safetensors"

WORKFLOW = Path(__file__).resolve().parents[1] / "e2e" / "comfyui_workflows" / "upscale_with_model.json"


def write_upscale_models(root: Path) -> None:
    """Write the tiny upscalers under ``root/upscale_models`` (called by the models_dir fixture)."""
    import torch
    from safetensors.torch import save_file

    from tiny_models.upscaler import write_tiny_esrgan

    folder = root / "upscale_models"
    write_tiny_esrgan(folder / REALESRGAN_X4, seed=0, scale=4, layout="new")
    write_tiny_esrgan(folder / REALESRGAN_X2, seed=0, scale=2, layout="new", wrap="params_ema")
    write_tiny_esrgan(folder / ESRGAN_OLD_X4, seed=1, scale=4, layout="old")
    save_file(
        {"encoder.weight": torch.zeros(4, 4), "decoder.weight": torch.zeros(4, 4)}, folder / NOT_AN_UPSCALER
    )


def upscale_with_model(image: str | None = None, model_name: str | None = None) -> dict[str, Any]:
    """ComfyUI's upscale-with-model workflow as its "Export (API)" writes it (LoadImage ->
    UpscaleModelLoader -> ImageUpscaleWithModel -> SaveImage), optionally another image or model."""
    graph = json.loads(WORKFLOW.read_text())
    if image is not None:
        graph["1"]["inputs"]["image"] = image
    if model_name is not None:
        graph["2"]["inputs"]["model_name"] = model_name
    return graph


def text_to_image_then_upscale(model_name: str = REALESRGAN_X2, batch_size: int = 2) -> dict[str, Any]:
    """TEXT_TO_IMAGE whose decoded batch also goes through the upscaler to a second SaveImage."""
    graph = text_to_image(**{"5": {"batch_size": batch_size}, "3": {"steps": 2}})
    graph["20"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model_name}}
    graph["21"] = {
        "class_type": "ImageUpscaleWithModel",
        "inputs": {"upscale_model": ["20", 0], "image": ["8", 0]},
    }
    graph["22"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "upscaled", "images": ["21", 0]}}
    return graph
