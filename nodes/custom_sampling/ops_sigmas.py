"""Implementations of the scheduler and sigma-editing nodes: SIGMAS values are 1-D float32 tensors."""

from __future__ import annotations

import math

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import ModelHandle
from nodes.sampling import schedules
from nodes.sampling.model_sampling import model_sampling_of

Sigmas = tuple[torch.Tensor]


def basic_scheduler(
    ctx: NodeContext, model: ModelHandle, scheduler: str, steps: int, denoise: float
) -> Sigmas:
    return (schedules.denoise_sigmas(model_sampling_of(model), scheduler, int(steps), float(denoise)),)


def _positive(name: str, value: float) -> float:
    if value <= 0:
        raise ValueError(
            f"{name} must be above 0 for this schedule (it is spaced in log sigma), got {value}."
        )
    return float(value)


def karras_scheduler(ctx: NodeContext, steps: int, sigma_max: float, sigma_min: float, rho: float) -> Sigmas:
    if rho <= 0:
        raise ValueError(f"rho must be above 0, got {rho}.")
    return (schedules.karras_sigmas(int(steps), float(sigma_min), float(sigma_max), float(rho)),)


def exponential_scheduler(ctx: NodeContext, steps: int, sigma_max: float, sigma_min: float) -> Sigmas:
    low, high = _positive("sigma_min", sigma_min), _positive("sigma_max", sigma_max)
    return (schedules.exponential_sigmas(int(steps), low, high),)


def polyexponential_scheduler(
    ctx: NodeContext, steps: int, sigma_max: float, sigma_min: float, rho: float
) -> Sigmas:
    low, high = _positive("sigma_min", sigma_min), _positive("sigma_max", sigma_max)
    return (schedules.polyexponential_sigmas(int(steps), low, high, float(rho)),)


def laplace_scheduler(
    ctx: NodeContext, steps: int, sigma_max: float, sigma_min: float, mu: float, beta: float
) -> Sigmas:
    return (schedules.laplace_sigmas(int(steps), float(sigma_min), float(sigma_max), float(mu), float(beta)),)


def vp_scheduler(ctx: NodeContext, steps: int, beta_d: float, beta_min: float, eps_s: float) -> Sigmas:
    return (schedules.vp_sigmas(int(steps), float(beta_d), float(beta_min), float(eps_s)),)


def beta_sampling_scheduler(
    ctx: NodeContext, model: ModelHandle, steps: int, alpha: float, beta: float
) -> Sigmas:
    if alpha <= 0 or beta <= 0:
        raise ValueError(
            f"alpha and beta must be above 0 (a Beta distribution's shape), got {alpha}, {beta}."
        )
    return (schedules.beta(model_sampling_of(model), int(steps), float(alpha), float(beta)),)


def sd_turbo_scheduler(ctx: NodeContext, model: ModelHandle, steps: int, denoise: float) -> Sigmas:
    """SDXL/SD Turbo's schedule (Sauer et al. 2023): timesteps 999, 899, ..., 99, from the one
    `denoise` reaches; the model's sigmas there, then 0."""
    start = 10 - int(10 * float(denoise))
    timesteps = torch.arange(999, 0, -100, dtype=torch.float32)[start : start + int(steps)]
    sigmas = model_sampling_of(model).sigma(timesteps).float()
    return (torch.cat([sigmas, sigmas.new_zeros(1)]),)


def split_sigmas(ctx: NodeContext, sigmas: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sigmas up to and including `step`, and from it on (both hold sigma `step`)."""
    return sigmas[: int(step) + 1], sigmas[int(step) :]


def split_sigmas_denoise(
    ctx: NodeContext, sigmas: torch.Tensor, denoise: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The last round(steps * denoise) steps as low_sigmas, the rest as high_sigmas (sharing the
    sigma between). As ComfyUI slices it, denoise 0 leaves high_sigmas empty too."""
    steps = max(len(sigmas) - 1, 0)
    low_steps = round(steps * float(denoise))
    return sigmas[:-low_steps] if low_steps else sigmas[:0], sigmas[-(low_steps + 1) :]


def flip_sigmas(ctx: NodeContext, sigmas: torch.Tensor) -> Sigmas:
    """Ascending order (for unsampling); a leading 0 becomes 0.0001 so the first step can divide by it."""
    flipped = sigmas.flip(0).clone()
    if len(flipped) and float(flipped[0]) == 0.0:
        flipped[0] = 0.0001
    return (flipped,)


def set_first_sigma(ctx: NodeContext, sigmas: torch.Tensor, sigma: float) -> Sigmas:
    if len(sigmas) == 0:
        raise ValueError("sigmas is empty: there is no first sigma to set.")
    changed = sigmas.clone()
    changed[0] = float(sigma)
    return (changed,)


_SPACINGS = {
    "linear": lambda x: x,
    "cosine": lambda x: torch.sin(x * math.pi / 2),
    "sine": lambda x: 1 - torch.cos(x * math.pi / 2),
}


def extend_intermediate_sigmas(
    ctx: NodeContext,
    sigmas: torch.Tensor,
    steps: int,
    start_at_sigma: float,
    end_at_sigma: float,
    spacing: str,
) -> Sigmas:
    """`steps` - 1 extra sigmas inside each step whose sigma lies in [end_at_sigma, start_at_sigma]
    (start -1: no upper bound), spaced linearly or along a quarter cosine/sine."""
    if spacing not in _SPACINGS:
        raise ValueError(f"spacing must be one of {', '.join(_SPACINGS)}, got {spacing!r}.")
    upper = math.inf if start_at_sigma < 0 else float(start_at_sigma)
    fractions = _SPACINGS[spacing](torch.linspace(0, 1, int(steps) + 1)[1:-1])
    out: list[float] = []
    for i in range(len(sigmas) - 1):
        current, following = float(sigmas[i]), float(sigmas[i + 1])
        out.append(current)
        if float(end_at_sigma) <= current <= upper:
            out.extend((fractions * (following - current) + current).tolist())
    if len(sigmas):
        out.append(float(sigmas[-1]))
    return (torch.tensor(out, dtype=torch.float32),)


def sampling_percent_to_sigma(
    ctx: NodeContext, model: ModelHandle, sampling_percent: float, return_actual_sigma: bool
) -> tuple[float]:
    """The sigma a fraction of the way through sampling stands for, as timestep ranges use it (at 0
    a bound above every sigma, at 1 zero); `return_actual_sigma`: the model's largest and smallest
    sigma there instead."""
    ms = model_sampling_of(model)
    percent = float(sampling_percent)
    if return_actual_sigma and percent == 0.0:
        return (ms.sigma_max,)
    if return_actual_sigma and percent == 1.0:
        return (ms.sigma_min,)
    return (ms.percent_to_sigma(percent),)
