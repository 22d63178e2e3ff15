"""Euler's method and its ancestral form (Karras et al. 2022, Algorithm 2; Ho et al. 2020's ancestral
noise in sigma terms), with CFG++ (Chung et al. 2024) re-noising along the unconditional prediction."""

from __future__ import annotations

import torch

from nodes.sampling.noise import NoiseSampler
from nodes.sampling.samplers.common import (
    add_ancestral_noise,
    ancestral_step,
    default_noise,
    is_flow,
    to_d,
    uncond_of,
)
from nodes.sampling.samplers.contract import Denoiser, SamplerRun


def churn(
    x: torch.Tensor,
    sigma: torch.Tensor,
    steps: int,
    noise: NoiseSampler,
    s_churn: float,
    s_tmin: float,
    s_tmax: float,
    s_noise: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Karras et al.'s stochastic churn: raise the noise level by gamma before the step (0: none)."""
    gamma = min(s_churn / steps, 2**0.5 - 1) if s_tmin <= sigma <= s_tmax else 0.0
    if gamma <= 0:
        return x, sigma
    sigma_hat = sigma * (gamma + 1)
    return x + noise(sigma, sigma_hat) * s_noise * (sigma_hat**2 - sigma**2).sqrt(), sigma_hat


def euler(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """Euler's method on the probability-flow ODE dx/dsigma = (x - x0) / sigma (Karras et al. 2022,
    Algorithm 2 with churn; churn 0 is plain Euler, ComfyUI's default)."""
    noise = default_noise(x, sigmas, run, noise_sampler)
    for i in range(len(sigmas) - 1):
        x, sigma = churn(x, sigmas[i], len(sigmas) - 1, noise, s_churn, s_tmin, s_tmax, s_noise)
        denoised = model(x, sigma)
        x = x + to_d(x, sigma, denoised) * (sigmas[i + 1] - sigma)
        run.callback(i, x, denoised)
    return x


def euler_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun) -> torch.Tensor:
    """CFG++ Euler: x_next = x0_guided + sigma_next * (x - x0_uncond) / sigma (Chung et al. 2024, Alg. 1
    in sigma terms: the guided prediction denoises, the unconditional one gives the noise direction)."""
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        x = denoised + to_d(x, sigmas[i], uncond_of(model, denoised)) * sigmas[i + 1]
        run.callback(i, x, denoised)
    return x


def _euler_ancestral(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    eta: float,
    s_noise: float,
    noise_sampler: NoiseSampler | None,
    cfg_pp: bool,
) -> torch.Tensor:
    noise = default_noise(x, sigmas, run, noise_sampler)
    flow = is_flow(model)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        step = ancestral_step(sigma, sigma_next, eta, flow=flow)
        if cfg_pp:
            x = denoised + to_d(x, sigma, uncond_of(model, denoised)) * step.down
        else:
            x = x + to_d(x, sigma, denoised) * (step.down - sigma)
        if sigma_next > 0 and eta > 0:
            x = add_ancestral_noise(x, step, noise(sigma, sigma_next), s_noise)
        run.callback(i, x, denoised)
    return x


def euler_ancestral(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """Euler to sigma_down, then fresh noise up to sigma_next (ancestral sampling; flow: the RF split)."""
    return _euler_ancestral(model, x, sigmas, run, eta, s_noise, noise_sampler, cfg_pp=False)


def euler_ancestral_cfg_pp(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """euler_ancestral with CFG++'s re-noising along the unconditional prediction."""
    return _euler_ancestral(model, x, sigmas, run, eta, s_noise, noise_sampler, cfg_pp=True)
