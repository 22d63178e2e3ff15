"""Samplers that jump through x0: LCM's multistep sampling (Luo et al. 2023, Algorithm 1: predict x0,
re-noise it to the next level with fresh noise) and DDPM's ancestral posterior step (Ho et al. 2020,
eq. 6-7, in sigma terms)."""

from __future__ import annotations

import torch

from nodes.sampling.noise import NoiseSampler
from nodes.sampling.samplers.common import alpha_of, default_noise, offset_first_sigma
from nodes.sampling.samplers.contract import Denoiser, SamplerRun


def lcm(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    noise = default_noise(x, sigmas, run, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        x = denoised
        if sigmas[i + 1] > 0:
            x = model.model_sampling.noise_scaling(sigmas[i + 1], noise(sigmas[i], sigmas[i + 1]), x)
        run.callback(i, x, denoised)
    return x


def ddpm(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """x_prev ~ q(x_prev | x, x0): the posterior mean from eps, plus the posterior std beta~ of noise.

    Worked in the variance-preserving view x_vp = x / sqrt(1 + s^2) of the variance-exploding
    sigma s = sigma / alpha, so flow models take the same step."""
    sigmas = offset_first_sigma(model, sigmas)  # alpha is 0 at flow sigma 1
    noise = default_noise(x, sigmas, run, noise_sampler)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        a, a_next = alpha_of(model, sigma), alpha_of(model, sigma_next)
        s, s_next = sigma / a, sigma_next / a_next
        abar, abar_prev = 1 / (s * s + 1), 1 / (s_next * s_next + 1)
        alpha = abar / abar_prev  # this step's 1 - beta
        x_vp = (x / a) / (1 + s * s).sqrt()
        eps = (x / a - denoised) / s
        mean = (x_vp - (1 - alpha) * eps / (1 - abar).sqrt()) / alpha.sqrt()
        if sigma_next > 0:
            std = ((1 - alpha) * (1 - abar_prev) / (1 - abar)).sqrt()
            mean = mean + std * noise(sigma, sigma_next)
            x = mean * (1 + s_next * s_next).sqrt() * a_next
        else:
            x = mean
        run.callback(i, x, denoised)
    return x
