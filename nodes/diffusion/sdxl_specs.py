"""Schemas of the SDXL-only nodes (CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner); SDXL checkpoints and the
refiner load via CheckpointLoaderSimple."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import CLIP, CONDITIONING, FLOAT, INT, STRING, InputSpec, OutputSpec


def _size(name: str, default: int) -> InputSpec:
    return InputSpec(name, INT, default=default, min=0, max=16384)


def _prompt(name: str) -> InputSpec:
    return InputSpec(name, STRING, options={"multiline": True, "dynamicPrompts": True})


SPECS = (
    # A V3 node in ComfyUI (comfy_extras.nodes_clip_sdxl): object_info writes it in the V3 style.
    V3NodeSpec(
        class_type="CLIPTextEncodeSDXL",
        category="advanced/conditioning",
        impl="nodes.diffusion.sdxl_text:clip_text_encode_sdxl",
        inputs=(
            InputSpec("clip", CLIP),
            _size("width", 1024),
            _size("height", 1024),
            _size("crop_w", 0),
            _size("crop_h", 0),
            _size("target_width", 1024),
            _size("target_height", 1024),
            _prompt("text_g"),
            _prompt("text_l"),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    V3NodeSpec(
        class_type="CLIPTextEncodeSDXLRefiner",
        category="advanced/conditioning",
        impl="nodes.diffusion.sdxl_text:clip_text_encode_sdxl_refiner",
        inputs=(
            InputSpec("ascore", FLOAT, default=6.0, min=0.0, max=1000.0, step=0.01),
            _size("width", 1024),
            _size("height", 1024),
            _prompt("text"),
            InputSpec("clip", CLIP),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
)
