"""Schemas of the LoRA loaders: LoraLoader and LoraLoaderModelOnly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodes.schema import CLIP, COMBO, FLOAT, MODEL, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.lora.ops"

DESCRIPTION = (
    "LoRAs are used to modify diffusion and CLIP models, altering the way in which latents are denoised "
    "such as applying styles. Multiple LoRA nodes can be linked together."
)
MODEL_TOOLTIP = "The modified diffusion model."
CLIP_TOOLTIP = "The modified CLIP model."


def _strength(name: str, tooltip: str | None = None) -> InputSpec:
    return InputSpec(name, FLOAT, default=1.0, min=-100.0, max=100.0, step=0.01, tooltip=tooltip)


@dataclass(frozen=True)
class _InheritedTooltipsSpec(NodeSpec):
    """ComfyUI's LoraLoaderModelOnly subclasses LoraLoader and so reports both of its output tooltips
    (MODEL's and CLIP's) for its single output; its object_info carries that quirk, so ours does too."""

    comfy_output_tooltips: tuple[str, ...] = ()

    def to_comfy(self, dynamic_choices: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return {**super().to_comfy(dynamic_choices), "output_tooltips": list(self.comfy_output_tooltips)}


SPECS = (
    NodeSpec(
        class_type="LoraLoader",
        display_name="Load LoRA",
        category="loaders",
        description=DESCRIPTION,
        impl=f"{OPS}:lora_loader",
        inputs=(
            InputSpec("model", MODEL, tooltip="The diffusion model the LoRA will be applied to."),
            InputSpec("clip", CLIP, tooltip="The CLIP model the LoRA will be applied to."),
            InputSpec("lora_name", COMBO, choices_source="loras", tooltip="The name of the LoRA."),
            _strength(
                "strength_model", "How strongly to modify the diffusion model. This value can be negative."
            ),
            _strength("strength_clip", "How strongly to modify the CLIP model. This value can be negative."),
        ),
        outputs=(OutputSpec(MODEL, tooltip=MODEL_TOOLTIP), OutputSpec(CLIP, tooltip=CLIP_TOOLTIP)),
    ),
    _InheritedTooltipsSpec(
        class_type="LoraLoaderModelOnly",
        category="loaders",
        description=DESCRIPTION,
        impl=f"{OPS}:lora_loader_model_only",
        inputs=(
            InputSpec("model", MODEL),
            InputSpec("lora_name", COMBO, choices_source="loras"),
            _strength("strength_model"),
        ),
        outputs=(OutputSpec(MODEL),),
        comfy_output_tooltips=(MODEL_TOOLTIP, CLIP_TOOLTIP),
    ),
)
