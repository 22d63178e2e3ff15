"""The diffusers scheduler for a KSampler sampler/scheduler pair, stepping along ComfyUI's sigmas.

EulerDiscreteScheduler builds every supported ComfyUI schedule (checked against ComfyUI's recorded
sigmas, docs/samplers.md). Classes that cannot build them all are handed Euler's sigmas and
fractional timesteps instead: DPMSolverMultistepScheduler spaces "linspace"/"leading" its own way and
rounds its timesteps, EulerAncestralDiscreteScheduler has no karras/exponential option. Both step
only from one sigma to the next, so they then step exactly between ComfyUI's sigmas and the UNet
sees ComfyUI's timesteps.

DPMSolverMultistepScheduler also works on the model's input, x / sqrt(1 + sigma^2), where ComfyUI
(and the Euler family) keep the latent x itself; `to_solver` and `from_solver` convert at the ends
of a run so a LATENT with leftover noise means the same to every sampler.
"""

from __future__ import annotations

from typing import Any

import torch

from nodes.diffusion.custom_schedules import CUSTOM_SCHEDULES
from nodes.diffusion.samplers import SAMPLERS, SCHEDULERS

# Classes given Euler's schedule, and those of them that work on x / sqrt(1 + sigma^2).
FOLLOW_EULER_SIGMAS: frozenset[str] = frozenset(
    {"DPMSolverMultistepScheduler", "EulerAncestralDiscreteScheduler"}
)
SCALED_INPUT: frozenset[str] = frozenset({"DPMSolverMultistepScheduler"})


def build_scheduler(
    noise_schedule: dict[str, Any], sampler_name: str, scheduler: str, steps: int, device: str
) -> Any:
    """A diffusers scheduler set to `steps` steps of the named ComfyUI schedule."""
    import diffusers

    class_name, extra = SAMPLERS[sampler_name]
    schedule = dict(SCHEDULERS[scheduler])
    custom = schedule.pop("custom_sigmas", None)
    config = {**noise_schedule, **extra}
    if custom is not None and class_name == "EulerDiscreteScheduler":
        return _euler_with_custom_sigmas(config, custom, steps, device)
    if class_name not in FOLLOW_EULER_SIGMAS:
        config.update(schedule)  # the others get Euler's schedule below
    sched = getattr(diffusers, class_name).from_config(config)
    sched.set_timesteps(steps, device=device)
    if class_name in FOLLOW_EULER_SIGMAS:
        if custom is not None:
            reference = _euler_with_custom_sigmas(noise_schedule, custom, steps, device)
        else:
            reference = diffusers.EulerDiscreteScheduler.from_config({**noise_schedule, **schedule})
            reference.set_timesteps(steps, device=device)
        sched.sigmas = reference.sigmas.to("cpu", torch.float32)
        sched.timesteps = reference.timesteps
    return sched


def _euler_with_custom_sigmas(config: dict[str, Any], name: str, steps: int, device: str) -> Any:
    """EulerDiscreteScheduler stepping along one of custom_schedules' explicit sigma lists."""
    import diffusers

    sched = diffusers.EulerDiscreteScheduler.from_config(config)
    table = ((1.0 - sched.alphas_cumprod) / sched.alphas_cumprod).sqrt().double().numpy()
    sigmas = CUSTOM_SCHEDULES[name](table, steps)
    sched.set_timesteps(sigmas=sigmas.tolist(), device=device)
    return sched


def _input_scale(sched: Any, index: int) -> float:
    if type(sched).__name__ not in SCALED_INPUT:
        return 1.0
    sigma = float(sched.sigmas[index])
    return 1.0 / (1.0 + sigma * sigma) ** 0.5


def to_solver(sched: Any, latent: torch.Tensor, index: int) -> torch.Tensor:
    """A latent at the noise level of schedule position `index`, in the scheduler's own scaling."""
    return latent * _input_scale(sched, index)


def from_solver(sched: Any, sample: torch.Tensor, index: int) -> torch.Tensor:
    """The scheduler's sample at schedule position `index` as a ComfyUI latent."""
    return sample / _input_scale(sched, index)
