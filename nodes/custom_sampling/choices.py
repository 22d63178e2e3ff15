"""Which sampler each Sampler* node configures, and the check that it runs here (pure data: the api
validates with it, the worker resolves the name with it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from nodes.diffusion.samplers import sampler_problem

# class type -> ComfyUI sampler name; nodes with a noise_device input run the "_gpu" variant on "gpu"
# (the same sampler with its Brownian noise drawn on the GPU), as ComfyUI names them.
SAMPLER_NODES: dict[str, str] = {
    "SamplerEulerAncestral": "euler_ancestral",
    "SamplerEulerAncestralCFGPP": "euler_ancestral_cfg_pp",
    "SamplerLMS": "lms",
    "SamplerDPMPP_3M_SDE": "dpmpp_3m_sde",
    "SamplerDPMPP_2M_SDE": "dpmpp_2m_sde",
    "SamplerDPMPP_SDE": "dpmpp_sde",
    "SamplerDPMPP_2S_Ancestral": "dpmpp_2s_ancestral",
    "SamplerDPMAdaptative": "dpm_adaptive",
    "SamplerER_SDE": "er_sde",
    "SamplerSASolver": "sa_solver",
}


def configured_sampler(class_type: str, inputs: Mapping[str, Any]) -> str:
    name = SAMPLER_NODES[class_type]
    return f"{name}_gpu" if inputs.get("noise_device") == "gpu" else name


def sampler_node_check(class_type: str) -> Callable[[Mapping[str, Any]], Iterator[tuple[str, str, str]]]:
    """A node check refusing a Sampler* node whose sampler is not implemented, as KSampler's check does."""

    def check(inputs: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
        problem = sampler_problem(configured_sampler(class_type, inputs))
        if problem:
            field = "noise_device" if "noise_device" in inputs else next(iter(inputs), "sampler")
            yield field, "unsupported_sampler", f"{class_type}: {problem}"

    return check
