"""Schemas of the upscale-model nodes (ComfyUI's comfy_extras/nodes_upscale_model, a V3 node set)."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import COMBO, IMAGE, UPSCALE_MODEL, InputSpec, OutputSpec

OPS = "nodes.upscale.ops"

SPECS = (
    V3NodeSpec(
        class_type="UpscaleModelLoader",
        display_name="Load Upscale Model",
        category="loaders",
        impl=f"{OPS}:upscale_model_loader",
        inputs=(InputSpec("model_name", COMBO, choices_source="upscale_models"),),
        outputs=(OutputSpec(UPSCALE_MODEL),),
    ),
    V3NodeSpec(
        class_type="ImageUpscaleWithModel",
        display_name="Upscale Image (using Model)",
        category="image/upscaling",
        impl=f"{OPS}:image_upscale_with_model",
        inputs=(InputSpec("upscale_model", UPSCALE_MODEL), InputSpec("image", IMAGE)),
        outputs=(OutputSpec(IMAGE),),
    ),
)
