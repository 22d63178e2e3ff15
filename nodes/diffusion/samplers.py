"""ComfyUI's sampler and scheduler names, and which of them run here (pure data for the api).

The api rejects a sampler this deployment has not implemented at validation time, naming the ones
it has. Every scheduler runs (nodes/sampling/schedules.py); the samplers are the functions under
nodes/sampling/samplers/, listed in nodes/sampling/names.py. docs/samplers.md has the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from nodes.sampling.names import IMPLEMENTED_SAMPLERS

# Every name ComfyUI's KSampler lists, in its order (the combo must match exactly).
COMFY_SAMPLERS: tuple[str, ...] = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis",
    "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp",
    "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2",
)  # fmt: skip

COMFY_SCHEDULERS: tuple[str, ...] = (
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
    "linear_quadratic", "kl_optimal",
)  # fmt: skip

NOT_YET = "not implemented in this deployment yet"


def sampler_problem(sampler_name: str, scheduler: str | None = None) -> str | None:
    """Why this sampler (and scheduler) cannot run here, or None if it can."""
    if sampler_name in COMFY_SAMPLERS and sampler_name not in IMPLEMENTED_SAMPLERS:
        return (
            f"sampler {sampler_name!r} is {NOT_YET}; implemented samplers: {', '.join(IMPLEMENTED_SAMPLERS)}."
        )
    return None


def check_sampler_inputs(inputs: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Node-level check for KSampler, KSamplerSelect: the sampler must be one that runs here."""
    sampler_name = inputs.get("sampler_name")
    if isinstance(sampler_name, str):
        problem = sampler_problem(sampler_name)
        if problem:
            yield "sampler_name", "unsupported_sampler", problem[0].upper() + problem[1:]
