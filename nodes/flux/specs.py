"""Schemas of the FLUX nodes and SD3's empty latent (ComfyUI's comfy_extras V3 nodes)."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import CLIP, CONDITIONING, FLOAT, INT, LATENT, STRING, InputSpec, OutputSpec

OPS = "nodes.flux.ops"


def _guidance() -> InputSpec:
    return InputSpec("guidance", FLOAT, default=3.5, min=0.0, max=100.0, step=0.1)


def _prompt(name: str) -> InputSpec:
    return InputSpec(name, STRING, options={"multiline": True, "dynamicPrompts": True})


def _size(name: str) -> InputSpec:
    return InputSpec(name, INT, default=1024, min=16, max=16384, step=16)


SPECS = (
    V3NodeSpec(
        class_type="FluxGuidance",
        category="advanced/conditioning/flux",
        impl=f"{OPS}:flux_guidance",
        inputs=(InputSpec("conditioning", CONDITIONING), _guidance()),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    V3NodeSpec(
        class_type="CLIPTextEncodeFlux",
        category="advanced/conditioning/flux",
        impl=f"{OPS}:clip_text_encode_flux",
        inputs=(InputSpec("clip", CLIP), _prompt("clip_l"), _prompt("t5xxl"), _guidance()),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    V3NodeSpec(
        class_type="EmptySD3LatentImage",
        category="latent/sd3",
        impl=f"{OPS}:empty_sd3_latent_image",
        inputs=(_size("width"), _size("height"), InputSpec("batch_size", INT, default=1, min=1, max=4096)),
        outputs=(OutputSpec(LATENT),),
    ),
)
