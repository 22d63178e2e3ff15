"""ComfyUI's schedulers: `steps` + 1 descending sigmas for a model's ModelSampling.

Each is written from its published definition (Karras et al. 2022 for karras and the sigma view,
Lee et al. 2024 for beta, Sabour et al. 2024 for kl_optimal, Genmo's Mochi for linear_quadratic),
in ComfyUI's sigma terms: a schedule walks the model's own sigmas (`ModelSampling.sigmas`, the
training timesteps of a discrete model, a tabulated shifted grid for a flow model) or its range
[sigma_min, sigma_max]. Checked against ComfyUI's recorded SD1.5 schedules in
tests/unit/test_sampler_schedules.py. The last sigma is 0 (ComfyUI's rule), except where a
schedule's own last point already is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from nodes.sampling.model_sampling import ModelSampling

Schedule = Callable[[ModelSampling, int], torch.Tensor]


def _with_zero(sigmas: list[float] | np.ndarray | torch.Tensor) -> torch.Tensor:
    values = torch.as_tensor(np.asarray(sigmas, dtype=np.float64))
    return torch.cat([values, values.new_zeros(1)]).float()


def simple(ms: ModelSampling, steps: int) -> torch.Tensor:
    """Every (len / steps)-th of the model's sigmas, from the top."""
    table = ms.sigmas
    stride = len(table) / steps
    return _with_zero([float(table[-(1 + int(i * stride))]) for i in range(steps)])


def ddim_uniform(ms: ModelSampling, steps: int) -> torch.Tensor:
    """The model's sigmas 1, 1 + len // steps, ... (DDIM's "uniform" timestep skip), from the top."""
    table = ms.sigmas
    stride = max(len(table) // steps, 1)
    return _with_zero([float(table[i]) for i in range(1, len(table), stride)][::-1])


def _timestep_spaced(ms: ModelSampling, steps: int, *, sgm: bool) -> torch.Tensor:
    """Evenly spaced timesteps from the model's largest sigma to its smallest (`sgm`: the end left out,
    Stability's sgm_uniform). A model whose smallest sigma is 0 ends there without a second zero."""
    start = float(ms.timestep(torch.tensor(ms.sigma_max)))
    end = float(ms.timestep(torch.tensor(ms.sigma_min)))
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1, dtype=torch.float64)[:-1]
        return _with_zero(ms.sigma(timesteps.float()))
    ends_at_zero = math.isclose(float(ms.sigma(torch.tensor(end))), 0.0, abs_tol=1e-5)
    timesteps = torch.linspace(start, end, steps + 1 if ends_at_zero else steps, dtype=torch.float64)
    sigmas = ms.sigma(timesteps.float())
    return sigmas.float() if ends_at_zero else _with_zero(sigmas)


def normal(ms: ModelSampling, steps: int) -> torch.Tensor:
    return _timestep_spaced(ms, steps, sgm=False)


def sgm_uniform(ms: ModelSampling, steps: int) -> torch.Tensor:
    return _timestep_spaced(ms, steps, sgm=True)


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022), eq. 5: evenly spaced in sigma^(1/rho)."""
    ramp = np.linspace(0.0, 1.0, steps)
    low, high = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return _with_zero((high + ramp * (low - high)) ** rho)


def exponential_sigmas(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Evenly spaced in log sigma."""
    return _with_zero(np.exp(np.linspace(math.log(sigma_max), math.log(sigma_min), steps)))


def polyexponential_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """Log sigma along a power ramp (rho 1 is exponential)."""
    ramp = np.linspace(1.0, 0.0, steps) ** rho
    log_min, log_max = math.log(sigma_min), math.log(sigma_max)
    return _with_zero(np.exp(ramp * (log_max - log_min) + log_min))


def vp_sigmas(steps: int, beta_d: float = 19.9, beta_min: float = 0.1, eps_s: float = 1e-3) -> torch.Tensor:
    """The continuous VP SDE's sigmas (Song et al. 2021) at evenly spaced times from 1 to eps_s."""
    t = np.linspace(1.0, eps_s, steps)
    return _with_zero(np.sqrt(np.exp(beta_d * t**2 / 2 + beta_min * t) - 1.0))


def laplace_sigmas(
    steps: int, sigma_min: float, sigma_max: float, mu: float = 0.0, beta: float = 0.5
) -> torch.Tensor:
    """Hang et al. (2024)'s Laplace schedule: log sigma at the Laplace(mu, beta) quantiles of evenly
    spaced points, clamped to [sigma_min, sigma_max]. Like ComfyUI's, it ends at sigma_min, not 0."""
    x = np.linspace(0.0, 1.0, steps)
    log_sigma = mu - beta * np.sign(0.5 - x) * np.log(1.0 - 2.0 * np.abs(0.5 - x) + 1e-5)
    return torch.as_tensor(np.clip(np.exp(log_sigma), sigma_min, sigma_max)).float()


def karras(ms: ModelSampling, steps: int) -> torch.Tensor:
    return karras_sigmas(steps, ms.sigma_min, ms.sigma_max)


def exponential(ms: ModelSampling, steps: int) -> torch.Tensor:
    return exponential_sigmas(steps, ms.sigma_min, ms.sigma_max)


def beta(ms: ModelSampling, steps: int, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    """Lee et al. (2024): the model's sigmas at the quantiles of a Beta(alpha, beta) distribution,
    indices rounded, repeats dropped (so at many steps the list is shorter than `steps`)."""
    from scipy.stats import beta as beta_distribution

    table = ms.sigmas
    last = len(table) - 1
    quantiles = 1.0 - np.linspace(0.0, 1.0, steps, endpoint=False)
    indices = np.rint(beta_distribution.ppf(quantiles, alpha, beta_) * last)
    picked = [int(t) for i, t in enumerate(indices) if i == 0 or t != indices[i - 1]]
    return _with_zero([float(table[i]) for i in picked])


def linear_quadratic(ms: ModelSampling, steps: int, threshold_noise: float = 0.025) -> torch.Tensor:
    """Mochi's schedule: noise falls linearly to `threshold_noise` over the first half of the steps,
    then quadratically to 1 (fractions of the largest sigma; sigma = (1 - fraction) * sigma_max)."""
    if steps == 1:
        fractions = [0.0, 1.0]
    else:
        linear_steps = steps // 2
        fractions = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        quadratic_steps = steps - linear_steps
        step_diff = linear_steps - threshold_noise * steps
        quadratic = step_diff / (linear_steps * quadratic_steps**2)
        linear = threshold_noise / linear_steps - 2 * step_diff / quadratic_steps**2
        constant = quadratic * linear_steps**2
        fractions += [quadratic * i**2 + linear * i + constant for i in range(linear_steps, steps)]
        fractions.append(1.0)
    return torch.tensor([(1.0 - f) * ms.sigma_max for f in fractions], dtype=torch.float64).float()


def kl_optimal(ms: ModelSampling, steps: int) -> torch.Tensor:
    """Sabour et al. (2024), "Align Your Steps": the KL-optimal schedule, evenly spaced in arctan(sigma)."""
    if steps == 1:
        return _with_zero([ms.sigma_max])
    ramp = np.arange(steps) / (steps - 1)
    return _with_zero(np.tan(ramp * math.atan(ms.sigma_min) + (1.0 - ramp) * math.atan(ms.sigma_max)))


# ComfyUI's scheduler names, in its order.
SCHEDULES: dict[str, Schedule] = {
    "simple": simple,
    "sgm_uniform": sgm_uniform,
    "karras": karras,
    "exponential": exponential,
    "ddim_uniform": ddim_uniform,
    "beta": beta,
    "normal": normal,
    "linear_quadratic": linear_quadratic,
    "kl_optimal": kl_optimal,
}


def schedule_sigmas(ms: ModelSampling, scheduler: str, steps: int) -> torch.Tensor:
    """The `scheduler`'s sigmas for `steps` steps (float32, descending; usually ending in 0)."""
    if scheduler not in SCHEDULES:
        raise ValueError(f"scheduler {scheduler!r} is not one of ComfyUI's: {', '.join(SCHEDULES)}.")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    return SCHEDULES[scheduler](ms, steps)


def denoise_sigmas(ms: ModelSampling, scheduler: str, steps: int, denoise: float) -> torch.Tensor:
    """ComfyUI's BasicScheduler: denoise < 1 runs the last `steps` sigmas of a longer schedule
    (int(steps / denoise) steps); denoise 0 is an empty schedule (nothing to run)."""
    if denoise >= 1.0:
        return schedule_sigmas(ms, scheduler, steps)
    if denoise <= 0.0:
        return torch.zeros(0)
    return schedule_sigmas(ms, scheduler, int(steps / denoise))[-(steps + 1) :]
