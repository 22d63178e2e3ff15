"""ComfyUI's schedulers that no diffusers spacing builds, as explicit sigma lists.

Written from the schedules' published definitions (no ComfyUI code). Each takes the model's sigma at
every training timestep (`table`, index = timestep) and returns `steps` + 1 sigmas ending in 0,
which EulerDiscreteScheduler takes through ``set_timesteps(sigmas=...)`` (timesteps follow by
log-sigma interpolation). Checked against ComfyUI's recordings in tests/unit/test_sampler_schedules.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def beta_sigmas(table: np.ndarray, steps: int, alpha: float = 0.6, beta: float = 0.6) -> np.ndarray:
    """ "Beta Sampling is All You Need" (Lee et al., 2024): training timesteps at the quantiles of a
    Beta(0.6, 0.6) distribution, rounded, repeats dropped."""
    from scipy.stats import beta as beta_distribution

    last_t = len(table) - 1
    quantiles = 1.0 - np.linspace(0.0, 1.0, steps, endpoint=False)
    timesteps = np.rint(beta_distribution.ppf(quantiles, alpha, beta) * last_t).astype(int)
    picked = [int(t) for i, t in enumerate(timesteps) if i == 0 or t != timesteps[i - 1]]
    return np.array([*table[picked], 0.0])


def linear_quadratic_sigmas(table: np.ndarray, steps: int, threshold_noise: float = 0.025) -> np.ndarray:
    """Mochi's schedule: noise falls linearly to `threshold_noise` over the first half of the steps,
    then quadratically to 1 (in fractions of the largest sigma; sigma = (1 - fraction) * sigma_max)."""
    sigma_max = float(table[-1])
    if steps == 1:
        return np.array([sigma_max, 0.0])
    linear_steps = steps // 2
    fractions = [i * threshold_noise / linear_steps for i in range(linear_steps)]
    quadratic_steps = steps - linear_steps
    step_diff = linear_steps - threshold_noise * steps
    quadratic = step_diff / (linear_steps * quadratic_steps**2)
    linear = threshold_noise / linear_steps - 2 * step_diff / quadratic_steps**2
    constant = quadratic * linear_steps**2
    fractions += [quadratic * i**2 + linear * i + constant for i in range(linear_steps, steps)]
    return np.array([(1.0 - f) * sigma_max for f in [*fractions, 1.0]])


def kl_optimal_sigmas(table: np.ndarray, steps: int) -> np.ndarray:
    """ "Align Your Steps" (Sabour et al., 2024) KL-optimal schedule: evenly spaced in arctan(sigma)."""
    sigma_min, sigma_max = float(table[0]), float(table[-1])
    if steps == 1:
        return np.array([sigma_max, 0.0])
    ramp = np.arange(steps) / (steps - 1)
    sigmas = np.tan(ramp * math.atan(sigma_min) + (1.0 - ramp) * math.atan(sigma_max))
    return np.array([*sigmas, 0.0])


CUSTOM_SCHEDULES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "beta": beta_sigmas,
    "linear_quadratic": linear_quadratic_sigmas,
    "kl_optimal": kl_optimal_sigmas,
}
