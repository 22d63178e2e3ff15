"""Single-step second-order ODE samplers in sigma (Karras et al. 2022): Heun (Algorithm 2), DPM2
(DPM-Solver-2 with a geometric midpoint) and heunpp2, each with Karras churn and an Euler last step to
sigma 0 (no second evaluation there)."""

from __future__ import annotations

import torch

from nodes.sampling.noise import NoiseSampler
from nodes.sampling.samplers.common import default_noise, to_d
from nodes.sampling.samplers.contract import Denoiser, SamplerRun
from nodes.sampling.samplers.euler import churn

_INF = float("inf")


def heun(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = _INF,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """Heun's method: an Euler predictor, then the average of the two slopes (trapezoidal rule)."""
    noise = default_noise(x, sigmas, run, noise_sampler)
    for i in range(len(sigmas) - 1):
        x, sigma = churn(x, sigmas[i], len(sigmas) - 1, noise, s_churn, s_tmin, s_tmax, s_noise)
        sigma_next = sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        dt = sigma_next - sigma
        if sigma_next == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigma_next, model(x_2, sigma_next))
            x = x + (d + d_2) / 2 * dt
        run.callback(i, x, denoised)
    return x


def dpm_2(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = _INF,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """DPM-Solver-2 in sigma: Euler to the log-midpoint sqrt(sigma * sigma_next), the full step with
    the midpoint's slope."""
    noise = default_noise(x, sigmas, run, noise_sampler)
    for i in range(len(sigmas) - 1):
        x, sigma = churn(x, sigmas[i], len(sigmas) - 1, noise, s_churn, s_tmin, s_tmax, s_noise)
        sigma_next = sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        if sigma_next == 0:
            x = x + d * (sigma_next - sigma)
        else:
            sigma_mid = (sigma * sigma_next).sqrt()
            x_2 = x + d * (sigma_mid - sigma)
            x = x + to_d(x_2, sigma_mid, model(x_2, sigma_mid)) * (sigma_next - sigma)
        run.callback(i, x, denoised)
    return x


def heunpp2(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = _INF,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """ "Heun++": slopes at sigma, sigma_next and (when there is one before the end) the sigma after,
    each from an Euler chain, averaged with weights sigma_k / (k * sigma_max) for the later ones and the
    rest for the first; an Euler step onto the schedule's last sigma, two-slope on the one before. The
    weights do not cancel the second-order error term, so it is a first-order method (as measured)."""
    noise = default_noise(x, sigmas, run, noise_sampler)
    s_end, s_max = sigmas[-1], sigmas[0]
    for i in range(len(sigmas) - 1):
        x, sigma = churn(x, sigmas[i], len(sigmas) - 1, noise, s_churn, s_tmin, s_tmax, s_noise)
        sigma_next = sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, denoised)
        dt = sigma_next - sigma
        if sigma_next == s_end:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigma_next, model(x_2, sigma_next))
            if sigmas[i + 2] == s_end:
                w_2 = sigma_next / (2 * s_max)
                x = x + ((1 - w_2) * d + w_2 * d_2) * dt
            else:
                sigma_3 = sigmas[i + 2]
                x_3 = x_2 + d_2 * (sigma_3 - sigma_next)
                d_3 = to_d(x_3, sigma_3, model(x_3, sigma_3))
                w_2, w_3 = sigma_next / (3 * s_max), sigma_3 / (3 * s_max)
                x = x + ((1 - w_2 - w_3) * d + w_2 * d_2 + w_3 * d_3) * dt
        run.callback(i, x, denoised)
    return x
