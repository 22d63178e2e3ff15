"""Schemas of the conditioning nodes that transform a prompt's embedding."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from nodes.schema import COMBO, CONDITIONING, FLOAT, INT, MASK, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.conditioning.ops"
REGIONS = "nodes.conditioning.ops_regions"


def check_timestep_range(inputs: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """ComfyUI accepts start > end and then never uses the conditioning; we say so at validation."""
    start, end = inputs.get("start"), inputs.get("end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and start > end:
        yield (
            "start",
            "value_not_valid",
            f"start ({start}) is after end ({end}): the entry would never apply.",
        )


def _strength() -> InputSpec:
    return InputSpec("strength", FLOAT, default=1.0, min=0.0, max=10.0, step=0.01)


def _pixels(name: str, default: int) -> InputSpec:
    return InputSpec(name, INT, default=default, min=default, max=16384, step=8)


def _fraction(name: str, default: float) -> InputSpec:
    return InputSpec(name, FLOAT, default=default, min=0, max=1.0, step=0.01)


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
    NodeSpec(
        class_type="ConditioningCombine",
        display_name="Conditioning (Combine)",
        category="conditioning",
        impl=f"{OPS}:conditioning_combine",
        inputs=(InputSpec("conditioning_1", CONDITIONING), InputSpec("conditioning_2", CONDITIONING)),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    NodeSpec(
        class_type="ConditioningConcat",
        display_name="Conditioning (Concat)",
        category="conditioning",
        impl=f"{OPS}:conditioning_concat",
        inputs=(InputSpec("conditioning_to", CONDITIONING), InputSpec("conditioning_from", CONDITIONING)),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    NodeSpec(
        class_type="ConditioningSetArea",
        display_name="Conditioning (Set Area)",
        category="conditioning",
        impl=f"{REGIONS}:conditioning_set_area",
        inputs=(
            InputSpec("conditioning", CONDITIONING),
            _pixels("width", 64),
            _pixels("height", 64),
            _pixels("x", 0),
            _pixels("y", 0),
            _strength(),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    NodeSpec(
        class_type="ConditioningSetAreaPercentage",
        display_name="Conditioning (Set Area with Percentage)",
        category="conditioning",
        impl=f"{REGIONS}:conditioning_set_area_percentage",
        inputs=(
            InputSpec("conditioning", CONDITIONING),
            _fraction("width", 1.0),
            _fraction("height", 1.0),
            _fraction("x", 0),
            _fraction("y", 0),
            _strength(),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    NodeSpec(
        class_type="ConditioningSetAreaStrength",
        category="conditioning",
        impl=f"{REGIONS}:conditioning_set_area_strength",
        inputs=(InputSpec("conditioning", CONDITIONING), _strength()),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    NodeSpec(
        class_type="ConditioningSetMask",
        display_name="Conditioning (Set Mask)",
        category="conditioning",
        impl=f"{REGIONS}:conditioning_set_mask",
        inputs=(
            InputSpec("conditioning", CONDITIONING),
            InputSpec("mask", MASK),
            _strength(),
            InputSpec("set_cond_area", COMBO, choices=("default", "mask bounds")),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
    NodeSpec(
        class_type="ConditioningSetTimestepRange",
        category="advanced/conditioning",
        impl=f"{REGIONS}:conditioning_set_timestep_range",
        inputs=(
            InputSpec("conditioning", CONDITIONING),
            InputSpec("start", FLOAT, default=0.0, min=0.0, max=1.0, step=0.001),
            InputSpec("end", FLOAT, default=1.0, min=0.0, max=1.0, step=0.001),
        ),
        outputs=(OutputSpec(CONDITIONING),),
        checks=(check_timestep_range,),
    ),
)
