"""ComfyUI sampler and scheduler names, and the diffusers schedulers that honour them.

Pure data so the api can reject an unsupported name at validation time.
Scheduler mappings were checked against ComfyUI's SD1.5 sigma schedules
(../shared/comfyui/sigma_schedule_*.json); docs/samplers.md has the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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

# sampler name -> (diffusers scheduler class, extra config)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
}

# scheduler name -> extra config for the diffusers scheduler
SCHEDULERS: dict[str, dict[str, Any]] = {
    "normal": {"timestep_spacing": "linspace"},
    "simple": {"timestep_spacing": "trailing"},
    "sgm_uniform": {"timestep_spacing": "trailing"},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "ddim_uniform": {"timestep_spacing": "leading", "steps_offset": 1},
}

# Pairs the diffusers class cannot build (its constructor has no such sigma option).
UNSUPPORTED_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("euler_ancestral", "karras"),
        ("euler_ancestral", "exponential"),
        ("dpm_2_ancestral", "exponential"),
    }
)


def sampler_problem(sampler_name: str, scheduler: str) -> str | None:
    """Why this sampler/scheduler pair cannot be honoured, or None if it can."""
    if sampler_name in COMFY_SAMPLERS and sampler_name not in SAMPLERS:
        return f"sampler {sampler_name!r} is not supported here; supported samplers: {', '.join(SAMPLERS)}."
    if scheduler in COMFY_SCHEDULERS and scheduler not in SCHEDULERS:
        return (
            f"scheduler {scheduler!r} is not supported here; supported schedulers: {', '.join(SCHEDULERS)}."
        )
    if (sampler_name, scheduler) in UNSUPPORTED_PAIRS:
        return f"sampler {sampler_name!r} cannot be combined with scheduler {scheduler!r}."
    return None


def check_sampler_inputs(inputs: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Node-level check for KSampler: the pair must be one we can honour exactly."""
    sampler_name, scheduler = inputs.get("sampler_name"), inputs.get("scheduler")
    if sampler_name in COMFY_SAMPLERS and scheduler in COMFY_SCHEDULERS:
        problem = sampler_problem(sampler_name, scheduler)
        if problem:
            field = "sampler_name" if sampler_name not in SAMPLERS else "scheduler"
            yield field, "unsupported_sampler", problem[0].upper() + problem[1:]


def scheduler_config(sampler_name: str, scheduler: str) -> tuple[str, dict[str, Any]]:
    class_name, extra = SAMPLERS[sampler_name]
    return class_name, {**extra, **SCHEDULERS[scheduler]}
