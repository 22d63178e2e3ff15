"""Schemas of the ModelSampling* nodes: a MODEL with another noise schedule or prediction (pure data)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from nodes.schema import BOOLEAN, COMBO, FLOAT, INT, MODEL, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.custom_sampling.ops_model"
DISCRETE_SAMPLINGS = ("eps", "v_prediction", "lcm", "x0", "img_to_img")
# ComfyUI's img_to_img prediction serves one model family (Lotus-style image-to-image networks)
# that this deployment does not load; refused by name rather than run wrong.
UNSUPPORTED_SAMPLINGS = {"img_to_img": "no model family this deployment loads predicts it"}


def check_discrete_sampling(inputs: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    sampling = inputs.get("sampling")
    if sampling in UNSUPPORTED_SAMPLINGS:
        yield (
            "sampling",
            "unsupported_value",
            f"sampling {sampling!r} is not supported here ({UNSUPPORTED_SAMPLINGS[sampling]}); "
            "use eps, v_prediction, lcm or x0.",
        )


def _model_node(class_type: str, impl: str, *inputs: InputSpec, checks: tuple[Any, ...] = ()) -> NodeSpec:
    return NodeSpec(
        class_type=class_type,
        category="advanced/model",
        impl=f"{OPS}:{impl}",
        inputs=(InputSpec("model", MODEL), *inputs),
        outputs=(OutputSpec(MODEL),),
        checks=checks,
    )


def _shift(default: float) -> InputSpec:
    return InputSpec("shift", FLOAT, default=default, min=0.0, max=100.0, step=0.01)


MODEL_SAMPLING_SPECS = (
    _model_node(
        "ModelSamplingDiscrete",
        "model_sampling_discrete",
        InputSpec("sampling", COMBO, choices=DISCRETE_SAMPLINGS),
        InputSpec("zsnr", BOOLEAN, default=False),
        checks=(check_discrete_sampling,),
    ),
    _model_node("ModelSamplingSD3", "model_sampling_sd3", _shift(3.0)),
    _model_node("ModelSamplingAuraFlow", "model_sampling_aura_flow", _shift(1.73)),
    _model_node(
        "ModelSamplingFlux",
        "model_sampling_flux",
        InputSpec("max_shift", FLOAT, default=1.15, min=0.0, max=100.0, step=0.01),
        InputSpec("base_shift", FLOAT, default=0.5, min=0.0, max=100.0, step=0.01),
        InputSpec("width", INT, default=1024, min=16, max=16384, step=8),
        InputSpec("height", INT, default=1024, min=16, max=16384, step=8),
    ),
)
