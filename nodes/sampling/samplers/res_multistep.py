"""RES multistep (Zhang et al. 2023, "Improved order analysis of exponential integrators", the
two-step data-prediction scheme whose weights satisfy the order conditions), its ancestral and CFG++
forms, and gradient estimation (Permenter & Yuan 2024)."""

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


def _phi1(h: torch.Tensor) -> torch.Tensor:
    return torch.expm1(h) / h


def _phi2(h: torch.Tensor) -> torch.Tensor:
    return (_phi1(h) - 1) / h


def res_multistep_core(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float,
    s_noise: float,
    noise_sampler: NoiseSampler | None,
    cfg_pp: bool,
) -> torch.Tensor:
    noise = default_noise(x, sigmas, run, noise_sampler) if eta > 0 else None
    flow = is_flow(model)
    old: torch.Tensor | None = None
    h_old: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        uncond = uncond_of(model, denoised) if cfg_pp else denoised
        step = ancestral_step(sigma, sigma_next, eta, flow=flow)
        if step.down == 0 or old is None or h_old is None:
            if cfg_pp:
                x = denoised + to_d(x, sigma, uncond) * step.down
            else:
                x = x + to_d(x, sigma, denoised) * (step.down - sigma)
            h = (sigma / step.down).log() if step.down > 0 else None
        else:
            # t = -log(sigma); the previous x0 sits c2 * h before this one (c2 < 0)
            h = (sigma / step.down).log()
            c2 = -h_old / h
            b2 = torch.nan_to_num(_phi2(-h) / c2, nan=0.0)
            b1 = torch.nan_to_num(_phi1(-h), nan=0.0) - b2
            if cfg_pp:
                x = x + (denoised - uncond)
            x = (-h).exp() * x + h * (b1 * uncond + b2 * old)
        if sigma_next > 0 and noise is not None:
            x = add_ancestral_noise(x, step, noise(sigma, sigma_next), s_noise)
        old, h_old = uncond, h
        run.callback(i, x, denoised)
    return x


def res_multistep(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 0.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """RES 2-step: x_next = e^-h x + h (b1 x0_i + b2 x0_{i-1}), b from phi_1, phi_2 (Euler first)."""
    return res_multistep_core(
        model, x, sigmas, run, eta=eta, s_noise=s_noise, noise_sampler=noise_sampler, cfg_pp=False
    )


def res_multistep_cfg_pp(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 0.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    return res_multistep_core(
        model, x, sigmas, run, eta=eta, s_noise=s_noise, noise_sampler=noise_sampler, cfg_pp=True
    )


def res_multistep_ancestral(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    return res_multistep_core(
        model, x, sigmas, run, eta=eta, s_noise=s_noise, noise_sampler=noise_sampler, cfg_pp=False
    )


def res_multistep_ancestral_cfg_pp(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    return res_multistep_core(
        model, x, sigmas, run, eta=eta, s_noise=s_noise, noise_sampler=noise_sampler, cfg_pp=True
    )


def _gradient_estimation(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, ge_gamma: float, cfg_pp: bool
) -> torch.Tensor:
    old_d: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        d = to_d(x, sigma, uncond_of(model, denoised) if cfg_pp else denoised)
        # the denoising direction extrapolated with momentum gamma from the last step's (Euler first)
        extra = 0 if old_d is None else (ge_gamma - 1) * (d - old_d)
        if cfg_pp:  # CFG++: Euler from the latent re-noised along the unconditional x0
            x = denoised + d * sigma_next + extra * (sigma_next - sigma)
        else:
            x = x + (d + extra) * (sigma_next - sigma)
        old_d = d
        run.callback(i, x, denoised)
    return x


def gradient_estimation(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, *, ge_gamma: float = 2.0
) -> torch.Tensor:
    """Gradient estimation: Euler with d_bar = gamma d_i + (1 - gamma) d_{i-1} (gamma 2)."""
    return _gradient_estimation(model, x, sigmas, run, ge_gamma, cfg_pp=False)


def gradient_estimation_cfg_pp(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, *, ge_gamma: float = 2.0
) -> torch.Tensor:
    return _gradient_estimation(model, x, sigmas, run, ge_gamma, cfg_pp=True)
