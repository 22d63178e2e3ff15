"""The tiny SDXL checkpoints of the test model store and ComfyUI's default SDXL workflow for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.graphs import TEXT_TO_IMAGE, with_inputs

SDXL_CHECKPOINT = "tiny-sdxl"
# The same weights as SDXL_CHECKPOINT, as one .safetensors in the original SGM layout (+ sidecar config).
SDXL_SINGLE_FILE = "tiny-sdxl-single.safetensors"
# ComfyUI's SDXL Turbo example loads this name (tests/e2e/comfyui_workflows/sdxl_turbo.json).
SDXL_TURBO_CHECKPOINT = "sd_xl_turbo_1.0_fp16.safetensors"


def write_sdxl_models(root: Path) -> None:
    """Write the tiny SDXL checkpoints into the model store at `root` (conftest's models_dir)."""
    from tiny_models.sdxl import write_tiny_sdxl_diffusers, write_tiny_sdxl_single_file

    write_tiny_sdxl_diffusers(root / "checkpoints" / SDXL_CHECKPOINT, seed=0)
    write_tiny_sdxl_single_file(root / "checkpoints" / SDXL_SINGLE_FILE, seed=0)
    write_tiny_sdxl_single_file(root / "checkpoints" / SDXL_TURBO_CHECKPOINT, seed=0)


# ComfyUI's SDXL text-to-image template in API format: CLIPTextEncodeSDXL positive, CLIPTextEncode negative.
_SDXL_TEXT_TO_IMAGE = with_inputs(
    TEXT_TO_IMAGE,
    **{
        "3": {"seed": 721897303308196, "steps": 3, "cfg": 7.0},
        "5": {"width": 64, "height": 64, "batch_size": 2},
    },
)
_SDXL_TEXT_TO_IMAGE["6"] = {
    "class_type": "CLIPTextEncodeSDXL",
    "inputs": {
        "clip": ["4", 1],
        "width": 1024,
        "height": 1024,
        "crop_w": 0,
        "crop_h": 0,
        "target_width": 1024,
        "target_height": 1024,
        "text_g": "a photo of a cat, cinematic",
        "text_l": "a photo of a cat",
    },
    "_meta": {"title": "CLIPTextEncodeSDXL"},
}


def sdxl_text_to_image(ckpt_name: str = SDXL_CHECKPOINT, **node_inputs: Any) -> dict:
    """A copy of the SDXL workflow for `ckpt_name`, with some node inputs replaced (as text_to_image)."""
    graph = with_inputs(_SDXL_TEXT_TO_IMAGE, **node_inputs)
    graph["4"]["inputs"]["ckpt_name"] = ckpt_name
    return graph
