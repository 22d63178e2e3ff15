"""Tiny upscale models for the test model store (upscale_models/), and the graphs that use them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.support.graphs import text_to_image

# Original ESRGAN layout as a pickled .pth (how most community upscalers ship), 4x.
ESRGAN_X4 = "tiny-esrgan-x4.pth"
# BasicSR / Real-ESRGAN layout as .safetensors, 2x (pixel-unshuffle + 4x body).
ESRGAN_X2 = "tiny-realesrgan-x2.safetensors"
# A state dict spandrel recognises as no architecture: the node must fail with a clear message.
NOT_AN_UPSCALER = "not-an-upscaler.safetensors"


def write_upscale_models(root: Path) -> None:
    """Write the tiny upscalers under ``root/upscale_models`` (called by the models_dir fixture)."""
    import torch
    from safetensors.torch import save_file

    from gpu_worker.tiny_upscaler import write_tiny_esrgan

    folder = root / "upscale_models"
    write_tiny_esrgan(folder / ESRGAN_X4, seed=0, scale=4, layout="old")
    write_tiny_esrgan(folder / ESRGAN_X2, seed=0, scale=2, layout="new")
    save_file(
        {"encoder.weight": torch.zeros(4, 4), "decoder.weight": torch.zeros(4, 4)}, folder / NOT_AN_UPSCALER
    )


# ComfyUI's upscale-with-model workflow in API format, as its "Export (API)" writes it.
UPSCALE_WITH_MODEL: dict[str, Any] = {
    "1": {
        "inputs": {"image": "FILE_ID"},
        "class_type": "LoadImage",
        "_meta": {"title": "Load Image"},
    },
    "2": {
        "inputs": {"model_name": ESRGAN_X4},
        "class_type": "UpscaleModelLoader",
        "_meta": {"title": "Load Upscale Model"},
    },
    "3": {
        "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
        "class_type": "ImageUpscaleWithModel",
        "_meta": {"title": "Upscale Image (using Model)"},
    },
    "4": {
        "inputs": {"filename_prefix": "ComfyUI", "images": ["3", 0]},
        "class_type": "SaveImage",
        "_meta": {"title": "Save Image"},
    },
}


def upscale_with_model(file_id: str, model_name: str = ESRGAN_X4) -> dict[str, Any]:
    graph = copy.deepcopy(UPSCALE_WITH_MODEL)
    graph["1"]["inputs"]["image"] = file_id
    graph["2"]["inputs"]["model_name"] = model_name
    return graph


def text_to_image_then_upscale(model_name: str = ESRGAN_X2, batch_size: int = 2) -> dict[str, Any]:
    """TEXT_TO_IMAGE whose decoded batch also goes through the upscaler to a second SaveImage."""
    graph = text_to_image(**{"5": {"batch_size": batch_size}, "3": {"steps": 2}})
    graph["20"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model_name}}
    graph["21"] = {
        "class_type": "ImageUpscaleWithModel",
        "inputs": {"upscale_model": ["20", 0], "image": ["8", 0]},
    }
    graph["22"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "upscaled", "images": ["21", 0]}}
    return graph
