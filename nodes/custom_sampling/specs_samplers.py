"""Schemas of the Sampler* nodes and KSamplerSelect (SAMPLER values), and the helpers the other
custom-sampling schemas share. Pure data, equal to ComfyUI's recorded object_info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodes.custom_sampling.choices import SAMPLER_NODES, sampler_node_check
from nodes.diffusion.samplers import COMFY_SAMPLERS, check_sampler_inputs
from nodes.schema import BOOLEAN, COMBO, FLOAT, INT, MODEL, SAMPLER, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.custom_sampling.ops"
CATEGORY = "sampling/custom_sampling"


@dataclass(frozen=True)
class CustomSamplingSpec(NodeSpec):
    """A classic node whose object_info writes some inputs in V3's style: a combo as
    ["COMBO", {"options": [...]}], an input without options as [type, {}]."""

    v3_inputs: tuple[str, ...] = field(default=())

    def to_comfy(self, dynamic_choices: dict[str, list[str]] | None = None) -> dict[str, Any]:
        data = super().to_comfy(dynamic_choices)
        data["input"].setdefault("required", {})  # DisableNoise lists an empty section
        data["input_order"].setdefault("required", [])
        for spec in self.inputs:
            if spec.name in self.v3_inputs:
                head = COMBO if spec.type == COMBO else spec.type
                opts = spec.comfy_options()
                if spec.type == COMBO:
                    opts = {"options": list(spec.choices), **opts}
                data["input"]["required"][spec.name] = [head, opts]
        return data


def float_input(name: str, default: float, lo: float, hi: float, step: float, **extra: Any) -> InputSpec:
    return InputSpec(name, FLOAT, default=default, min=lo, max=hi, step=step, **extra)


def steps_input(default: int = 20, hi: int = 10000) -> InputSpec:
    return InputSpec("steps", INT, default=default, min=1, max=hi)


def sigma_input(name: str, default: float) -> InputSpec:
    return float_input(name, default, 0.0, 5000.0, 0.01, round=False)


def _noise_options(*, eta_max: float = 100.0, s_noise_max: float = 100.0) -> tuple[InputSpec, ...]:
    return (
        float_input("eta", 1.0, 0.0, eta_max, 0.01, round=False),
        float_input("s_noise", 1.0, 0.0, s_noise_max, 0.01, round=False),
    )


NOISE_DEVICE = InputSpec("noise_device", COMBO, choices=("gpu", "cpu"))
DENOISE = float_input("denoise", 1.0, 0.0, 1.0, 0.01)


SAMPLER_IMPLS = {
    "SamplerEulerAncestral": "sampler_euler_ancestral",
    "SamplerEulerAncestralCFGPP": "sampler_euler_ancestral_cfg_pp",
    "SamplerLMS": "sampler_lms",
    "SamplerDPMPP_3M_SDE": "sampler_dpmpp_3m_sde",
    "SamplerDPMPP_2M_SDE": "sampler_dpmpp_2m_sde",
    "SamplerDPMPP_SDE": "sampler_dpmpp_sde",
    "SamplerDPMPP_2S_Ancestral": "sampler_dpmpp_2s_ancestral",
    "SamplerDPMAdaptative": "sampler_dpm_adaptative",
    "SamplerER_SDE": "sampler_er_sde",
    "SamplerSASolver": "sampler_sa_solver",
}


def _sampler(
    class_type: str, *inputs: InputSpec, v3_inputs: tuple[str, ...] = (), display_name: str | None = None
) -> NodeSpec:
    return CustomSamplingSpec(
        class_type=class_type,
        display_name=display_name,
        category=f"{CATEGORY}/samplers",
        impl=f"{OPS}:{SAMPLER_IMPLS[class_type]}",
        inputs=inputs,
        outputs=(OutputSpec(SAMPLER),),
        checks=(sampler_node_check(class_type),),
        v3_inputs=v3_inputs,
    )


SAMPLER_SPECS = (
    NodeSpec(
        class_type="KSamplerSelect",
        category=f"{CATEGORY}/samplers",
        impl=f"{OPS}:ksampler_select",
        inputs=(InputSpec("sampler_name", COMBO, choices=COMFY_SAMPLERS),),
        outputs=(OutputSpec(SAMPLER),),
        checks=(check_sampler_inputs,),
    ),
    _sampler("SamplerEulerAncestral", *_noise_options()),
    _sampler(
        "SamplerEulerAncestralCFGPP",
        *_noise_options(eta_max=1.0, s_noise_max=10.0),
        display_name="SamplerEulerAncestralCFG++",
    ),
    _sampler("SamplerLMS", InputSpec("order", INT, default=4, min=1, max=100)),
    _sampler("SamplerDPMPP_3M_SDE", *_noise_options(), NOISE_DEVICE),
    _sampler(
        "SamplerDPMPP_2M_SDE",
        InputSpec("solver_type", COMBO, choices=("midpoint", "heun")),
        *_noise_options(),
        NOISE_DEVICE,
    ),
    _sampler(
        "SamplerDPMPP_SDE",
        *_noise_options(),
        float_input("r", 0.5, 0.0, 100.0, 0.01, round=False),
        NOISE_DEVICE,
    ),
    _sampler("SamplerDPMPP_2S_Ancestral", *_noise_options()),
    _sampler(
        "SamplerDPMAdaptative",
        InputSpec("order", INT, default=3, min=2, max=3),
        *(
            float_input(name, default, 0.0, 100.0, 0.01, round=False)
            for name, default in (
                ("rtol", 0.05),
                ("atol", 0.0078),
                ("h_init", 0.05),
                ("pcoeff", 0.0),
                ("icoeff", 1.0),
                ("dcoeff", 0.0),
                ("accept_safety", 0.81),
                ("eta", 0.0),
                ("s_noise", 1.0),
            )
        ),
    ),
    _sampler(
        "SamplerER_SDE",
        InputSpec("solver_type", COMBO, choices=("ER-SDE", "Reverse-time SDE", "ODE")),
        InputSpec("max_stage", INT, default=3, min=1, max=3),
        float_input(
            "eta",
            1.0,
            0.0,
            100.0,
            0.01,
            round=False,
            tooltip="Stochastic strength of reverse-time SDE.\nWhen eta=0, it reduces to deterministic ODE. "
            "This setting doesn't apply to ER-SDE solver type.",
        ),
        float_input("s_noise", 1.0, 0.0, 100.0, 0.01, round=False),
        v3_inputs=("solver_type",),
    ),
    _sampler(
        "SamplerSASolver",
        InputSpec("model", MODEL),
        float_input("eta", 1.0, 0.0, 10.0, 0.01, round=False),
        float_input("sde_start_percent", 0.2, 0.0, 1.0, 0.001),
        float_input("sde_end_percent", 0.8, 0.0, 1.0, 0.001),
        float_input("s_noise", 1.0, 0.0, 100.0, 0.01, round=False),
        InputSpec("predictor_order", INT, default=3, min=1, max=6),
        InputSpec("corrector_order", INT, default=4, min=0, max=6),
        InputSpec("use_pece", BOOLEAN),
        InputSpec("simple_order_2", BOOLEAN),
        v3_inputs=("model", "use_pece", "simple_order_2"),
    ),
)
assert {spec.class_type for spec in SAMPLER_SPECS[1:]} == set(SAMPLER_NODES)
