"""Schemas of the conditioning nodes that transform a prompt's embedding."""

from __future__ import annotations

from nodes.schema import CONDITIONING, FLOAT, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.conditioning.ops"

SPECS = (
    NodeSpec(
        class_type="ConditioningZeroOut",
        category="advanced/conditioning",
        impl=f"{OPS}:conditioning_zero_out",
        inputs=(InputSpec("conditioning", CONDITIONING),),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    NodeSpec(
        class_type="ConditioningAverage",
        category="conditioning",
        impl=f"{OPS}:conditioning_average",
        inputs=(
            InputSpec("conditioning_to", CONDITIONING),
            InputSpec("conditioning_from", CONDITIONING),
            InputSpec("conditioning_to_strength", FLOAT, default=1.0, min=0.0, max=1.0, step=0.01),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
)
