"""Schemas of the ControlNet nodes: ControlNetLoader, ControlNetApply and ControlNetApplyAdvanced."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from nodes.schema import COMBO, CONDITIONING, CONTROL_NET, FLOAT, IMAGE, VAE, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.controlnet.ops"


def _strength() -> InputSpec:
    return InputSpec("strength", FLOAT, default=1.0, min=0.0, max=10.0, step=0.01)


def check_percent_window(inputs: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """ComfyUI accepts start_percent > end_percent and then never applies the ControlNet; we say so."""
    start, end = inputs.get("start_percent"), inputs.get("end_percent")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and start > end:
        yield (
            "start_percent",
            "value_not_valid",
            f"start_percent ({start}) is after end_percent ({end}): the ControlNet would never apply.",
        )


SPECS = (
    NodeSpec(
        class_type="ControlNetLoader",
        display_name="Load ControlNet Model",
        category="loaders",
        impl=f"{OPS}:controlnet_loader",
        inputs=(InputSpec("control_net_name", COMBO, choices_source="controlnet"),),
        outputs=(OutputSpec(CONTROL_NET),),
    ),
    NodeSpec(
        class_type="ControlNetApply",
        display_name="Apply ControlNet (OLD)",
        category="conditioning/controlnet",
        impl=f"{OPS}:controlnet_apply",
        inputs=(
            InputSpec("conditioning", CONDITIONING),
            InputSpec("control_net", CONTROL_NET),
            InputSpec("image", IMAGE),
            _strength(),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    NodeSpec(
        class_type="ControlNetApplyAdvanced",
        display_name="Apply ControlNet",
        category="conditioning/controlnet",
        impl=f"{OPS}:controlnet_apply_advanced",
        inputs=(
            InputSpec("positive", CONDITIONING),
            InputSpec("negative", CONDITIONING),
            InputSpec("control_net", CONTROL_NET),
            InputSpec("image", IMAGE),
            _strength(),
            InputSpec("start_percent", FLOAT, default=0.0, min=0.0, max=1.0, step=0.001),
            InputSpec("end_percent", FLOAT, default=1.0, min=0.0, max=1.0, step=0.001),
            InputSpec("vae", VAE, required=False),
        ),
        outputs=(OutputSpec(CONDITIONING, name="positive"), OutputSpec(CONDITIONING, name="negative")),
        checks=(check_percent_window,),
    ),
)
