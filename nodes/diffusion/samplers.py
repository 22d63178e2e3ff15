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

# DPM-Solver++(2M) as ComfyUI runs it: data prediction, first order on the first step and on the
# step to sigma 0. final_sigmas_type="zero" makes diffusers take that first-order last step.
_DPMPP_2M: dict[str, Any] = {
    "algorithm_type": "dpmsolver++",
    "solver_order": 2,
    "solver_type": "midpoint",
    "final_sigmas_type": "zero",
    "lower_order_final": True,
    "euler_at_final": False,
    "thresholding": False,
}
# ComfyUI's dpmpp_2m_sde(_heun): eta 1, s_noise 1. The _gpu names only move its noise sampler to the GPU.
_DPMPP_2M_SDE: dict[str, Any] = {**_DPMPP_2M, "algorithm_type": "sde-dpmsolver++"}
_DPMPP_2M_SDE_HEUN: dict[str, Any] = {**_DPMPP_2M_SDE, "solver_type": "heun"}

# sampler name -> (diffusers scheduler class, extra config)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm_2": ("KDPM2DiscreteScheduler", {}),
    "dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    # ComfyUI's ddim is its euler sampler: deterministic DDIM is exactly an Euler step in sigma.
    "ddim": ("EulerDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", _DPMPP_2M),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", _DPMPP_2M_SDE),
    "dpmpp_2m_sde_gpu": ("DPMSolverMultistepScheduler", _DPMPP_2M_SDE),
    "dpmpp_2m_sde_heun": ("DPMSolverMultistepScheduler", _DPMPP_2M_SDE_HEUN),
    "dpmpp_2m_sde_heun_gpu": ("DPMSolverMultistepScheduler", _DPMPP_2M_SDE_HEUN),
}

# scheduler name -> extra config for the diffusers scheduler
SCHEDULERS: dict[str, dict[str, Any]] = {
    "normal": {"timestep_spacing": "linspace"},
    "simple": {"timestep_spacing": "trailing"},
    "sgm_uniform": {"timestep_spacing": "trailing"},
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "ddim_uniform": {"timestep_spacing": "leading", "steps_offset": 1},
    # No diffusers spacing builds these: nodes/diffusion/custom_schedules.py lists their sigmas.
    "beta": {"custom_sigmas": "beta"},
    "linear_quadratic": {"custom_sigmas": "linear_quadratic"},
    "kl_optimal": {"custom_sigmas": "kl_optimal"},
}
CUSTOM_SIGMA_SCHEDULERS = tuple(name for name, config in SCHEDULERS.items() if "custom_sigmas" in config)

_CFG_PP = "CFG++ re-noises with the unconditional prediction, which no diffusers scheduler does"
_NO_CLASS = "no diffusers scheduler implements this solver"
# Why each ComfyUI sampler that is not in SAMPLERS cannot be honoured (shown in the error and docs).
UNSUPPORTED_SAMPLERS: dict[str, str] = {
    "euler_cfg_pp": _CFG_PP,
    "euler_ancestral_cfg_pp": _CFG_PP,
    "heunpp2": _NO_CLASS,
    "dpm_fast": _NO_CLASS + " (DPM-Solver with ComfyUI's fixed step-order split)",
    "dpm_adaptive": _NO_CLASS + " (adaptive step size)",
    "dpmpp_2s_ancestral": "DPMSolverSinglestepScheduler is neither ancestral nor split into ComfyUI's "
    "2S substeps",
    "dpmpp_2s_ancestral_cfg_pp": _CFG_PP,
    "dpmpp_sde": "DPMSolverSDEScheduler needs torchsde, which this deployment does not ship",
    "dpmpp_sde_gpu": "DPMSolverSDEScheduler needs torchsde, which this deployment does not ship",
    "dpmpp_2m_cfg_pp": _CFG_PP,
    "dpmpp_3m_sde": "DPMSolverMultistepScheduler's third-order SDE step weights the second difference "
    "differently from ComfyUI's (its coefficient is ComfyUI's minus 1)",
    "dpmpp_3m_sde_gpu": "DPMSolverMultistepScheduler's third-order SDE step weights the second difference "
    "differently from ComfyUI's (its coefficient is ComfyUI's minus 1)",
    "ddpm": "DDPMScheduler steps between integer training timesteps and keeps no sigma schedule, so it "
    "cannot follow karras or exponential sigmas, noise masks or an early stop",
    "lcm": "LCMScheduler uses its own timestep grid and LCM boundary scalings; ComfyUI's lcm steps along "
    "the scheduler's sigmas",
    "ipndm": "IPNDMScheduler runs its own sine noise schedule, not the model's",
    "ipndm_v": _NO_CLASS,
    "deis": "DEISMultistepScheduler integrates in log-rho; ComfyUI's deis uses tabulated coefficients "
    "over sigma, another solver",
    "res_multistep": _NO_CLASS,
    "res_multistep_cfg_pp": _CFG_PP,
    "res_multistep_ancestral": _NO_CLASS,
    "res_multistep_ancestral_cfg_pp": _CFG_PP,
    "gradient_estimation": _NO_CLASS,
    "gradient_estimation_cfg_pp": _CFG_PP,
    "er_sde": _NO_CLASS,
    "seeds_2": _NO_CLASS,
    "seeds_3": _NO_CLASS,
    "sa_solver": "SASolverScheduler runs other predictor/corrector orders and noise than ComfyUI's",
    "sa_solver_pece": "SASolverScheduler runs other predictor/corrector orders and noise than ComfyUI's",
    "uni_pc": "ComfyUI's UniPC runs order min(3, steps - 1) and stops at sigma 0.001; "
    "UniPCMultistepScheduler can stop only at 0 or the model's smallest sigma",
    "uni_pc_bh2": "ComfyUI's UniPC runs order min(3, steps - 1) and stops at sigma 0.001; "
    "UniPCMultistepScheduler can stop only at 0 or the model's smallest sigma",
}

# Every ComfyUI scheduler is honoured today (why one is not would go here, shown in the error).
UNSUPPORTED_SCHEDULERS: dict[str, str] = {}

# Pairs the diffusers class cannot build, with the reason. euler_ancestral and the DPM-Solver++
# samplers follow Euler's sigmas (scheduling.py), so only the classes that space their own
# (second-order or interpolating) sigma grids cannot take an explicit list.
UNSUPPORTED_PAIRS: dict[tuple[str, str], str] = {
    (sampler, scheduler): f"{SAMPLERS[sampler][0]} builds its own sigma grid and takes no explicit "
    f"sigma list, which {scheduler} needs"
    for sampler in ("heun", "dpm_2", "dpm_2_ancestral", "lms")
    for scheduler in CUSTOM_SIGMA_SCHEDULERS
}


def sampler_problem(sampler_name: str, scheduler: str) -> str | None:
    """Why this sampler/scheduler pair cannot be honoured, or None if it can."""
    if sampler_name in COMFY_SAMPLERS and sampler_name not in SAMPLERS:
        return (
            f"sampler {sampler_name!r} is not supported here ({UNSUPPORTED_SAMPLERS[sampler_name]}); "
            f"supported samplers: {', '.join(SAMPLERS)}."
        )
    if scheduler in COMFY_SCHEDULERS and scheduler not in SCHEDULERS:
        return (
            f"scheduler {scheduler!r} is not supported here ({UNSUPPORTED_SCHEDULERS[scheduler]}); "
            f"supported schedulers: {', '.join(SCHEDULERS)}."
        )
    if (sampler_name, scheduler) in UNSUPPORTED_PAIRS:
        return (
            f"sampler {sampler_name!r} cannot be combined with scheduler {scheduler!r} "
            f"({UNSUPPORTED_PAIRS[sampler_name, scheduler]})."
        )
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
    spacing = {k: v for k, v in SCHEDULERS[scheduler].items() if k != "custom_sigmas"}
    return class_name, {**extra, **spacing}
