"""Schemas of the SD3 nodes (ComfyUI's comfy_extras.nodes_sd3, V3 nodes). TripleCLIPLoader is in
nodes/loaders/, EmptySD3LatentImage in nodes/flux/, ModelSamplingSD3 in nodes/custom_sampling/."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import CLIP, COMBO, CONDITIONING, STRING, InputSpec, OutputSpec

OPS = "nodes.sd3.ops"


def _prompt(name: str) -> InputSpec:
    return InputSpec(name, STRING, options={"multiline": True, "dynamicPrompts": True})


SPECS = (
    V3NodeSpec(
        class_type="CLIPTextEncodeSD3",
        category="advanced/conditioning",
        impl=f"{OPS}:clip_text_encode_sd3",
        inputs=(
            InputSpec("clip", CLIP),
            _prompt("clip_l"),
            _prompt("clip_g"),
            _prompt("t5xxl"),
            InputSpec("empty_padding", COMBO, choices=("none", "empty_prompt")),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
)
