"""Second-order ancestral samplers: DPM-Solver-2 (Karras et al. 2022's "DPM2" form) and
DPM-Solver++(2S) (Lu et al. 2022, Algorithm 1) to sigma_down, then fresh noise to sigma_next.
Flow models use the RF split of `ancestral_step`."""

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


def dpm_2_ancestral(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """DPM2 to sigma_down: a half step to the geometric mean of sigma and sigma_down, then the full
    step with the midpoint's slope; then ancestral noise."""
    noise = default_noise(x, sigmas, run, noise_sampler)
    flow = is_flow(model)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        step = ancestral_step(sigma, sigma_next, eta, flow=flow)
        d = to_d(x, sigma, denoised)
        if step.down == 0:
            x = x + d * (step.down - sigma)
        else:
            sigma_mid = (sigma * step.down).sqrt()
            x_mid = x + d * (sigma_mid - sigma)
            x = x + to_d(x_mid, sigma_mid, model(x_mid, sigma_mid)) * (step.down - sigma)
            if eta > 0:
                x = add_ancestral_noise(x, step, noise(sigma, sigma_next), s_noise)
        run.callback(i, x, denoised)
    return x


def _dpmpp_2s_ancestral(
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
        # CFG++: the latent re-noised along the unconditional prediction, x - x0_uncond + x0_guided
        x_eff = x + (denoised - uncond_of(model, denoised)) if cfg_pp else x
        step = ancestral_step(sigma, sigma_next, eta, flow=flow)
        if step.down == 0:
            x = x_eff + to_d(x_eff, sigma, denoised) * (step.down - sigma)
        else:
            # data-prediction exponential integrator in t = -log(sigma): midpoint at t + h / 2
            sigma_s = (sigma * step.down).sqrt()
            x_2 = (sigma_s / sigma) * x_eff + (1 - sigma_s / sigma) * denoised
            denoised_2 = model(x_2, sigma_s)
            x = (step.down / sigma) * x_eff + (1 - step.down / sigma) * denoised_2
            if eta > 0:
                x = add_ancestral_noise(x, step, noise(sigma, sigma_next), s_noise)
        run.callback(i, x, denoised)
    return x


def dpmpp_2s_ancestral(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2S) (single-step, second order, midpoint r = 1/2) to sigma_down, then noise."""
    return _dpmpp_2s_ancestral(model, x, sigmas, run, eta, s_noise, noise_sampler, cfg_pp=False)


def dpmpp_2s_ancestral_cfg_pp(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """dpmpp_2s_ancestral with CFG++ (both substeps re-noise along the first call's unconditional x0)."""
    return _dpmpp_2s_ancestral(model, x, sigmas, run, eta, s_noise, noise_sampler, cfg_pp=True)
