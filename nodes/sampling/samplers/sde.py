"""DPM-Solver++ SDE samplers (Lu et al. 2022, "DPM-Solver++", the SDE variants) in half-log-SNR terms.

x = alpha x0 + sigma noise, lambda = log(alpha / sigma): alpha is 1 for the discrete models and
1 - sigma for flow models, so one formula serves both. The noise comes from a Brownian tree
(noise.py) over the schedule, on the CPU (`_gpu` names: on the latent's device).
"""

from __future__ import annotations

import torch

from nodes.sampling.noise import NoiseSampler
from nodes.sampling.samplers.common import (
    alpha_of,
    ancestral_step,
    default_noise,
    half_log_snr,
    offset_first_sigma,
    sigma_of_half_log_snr,
)
from nodes.sampling.samplers.contract import Denoiser, SamplerRun


def _device(noise_device: str) -> str:
    """Where the Brownian tree lives: "cpu" (ComfyUI's plain names) or "gpu" (the latent's device)."""
    if noise_device not in ("cpu", "gpu"):
        raise ValueError(f"noise_device must be 'cpu' or 'gpu', not {noise_device!r}.")
    return noise_device


def dpmpp_sde(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r: float = 0.5,
    noise_sampler: NoiseSampler | None = None,
    noise_device: str = "cpu",
) -> torch.Tensor:
    """DPM-Solver++(2S) SDE: a stochastic substep to lambda_s + r h, then the full stochastic step with
    x0 mixed (1 - 1/(2r), 1/(2r)) from the two evaluations; each substep splits its move ancestrally
    with eta in the variance-exploding view (sigma / alpha)."""
    sigmas = offset_first_sigma(model, sigmas)
    noise = default_noise(x, sigmas, run, noise_sampler, brownian=_device(noise_device))
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            lam_s, lam_t = half_log_snr(model, sigma), half_log_snr(model, sigma_next)
            h = lam_t - lam_s
            lam_1 = lam_s + r * h
            sigma_1 = sigma_of_half_log_snr(model, lam_1)
            alpha_s, alpha_1, alpha_t = (
                alpha_of(model, sigma),
                alpha_of(model, sigma_1),
                alpha_of(model, sigma_next),
            )
            x_2 = _sde_substep(x, denoised, lam_s, lam_1, alpha_s, alpha_1, eta)
            split = ancestral_step((-lam_s).exp(), (-lam_1).exp(), eta)
            if eta > 0 and s_noise > 0:
                x_2 = x_2 + alpha_1 * noise(sigma, sigma_1) * s_noise * split.up
            denoised_2 = model(x_2, sigma_1)
            mixed = (1 - fac) * denoised + fac * denoised_2
            x = _sde_substep(x, mixed, lam_s, lam_t, alpha_s, alpha_t, eta)
            split = ancestral_step((-lam_s).exp(), (-lam_t).exp(), eta)
            if eta > 0 and s_noise > 0:
                x = x + alpha_t * noise(sigma, sigma_next) * s_noise * split.up
        run.callback(i, x, denoised)
    return x


def _sde_substep(
    x: torch.Tensor,
    denoised: torch.Tensor,
    lam_s: torch.Tensor,
    lam_t: torch.Tensor,
    alpha_s: torch.Tensor,
    alpha_t: torch.Tensor,
    eta: float,
) -> torch.Tensor:
    """First-order data-prediction step from lambda_s to the ancestral target below lambda_t."""
    down = ancestral_step((-lam_s).exp(), (-lam_t).exp(), eta).down
    h = -down.log() - lam_s
    return (alpha_t / alpha_s) * (-h).exp() * x - alpha_t * torch.expm1(-h) * denoised


def dpmpp_2m_sde(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    solver_type: str = "midpoint",
    noise_sampler: NoiseSampler | None = None,
    noise_device: str = "cpu",
) -> torch.Tensor:
    """SDE-DPM-Solver++(2M): the SDE's first-order step plus a second-order correction from the last
    step's x0 ("midpoint" or "heun" weighting); the step to sigma 0 returns the model's x0."""
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type must be 'midpoint' or 'heun', not {solver_type!r}.")
    noise = default_noise(x, sigmas, run, noise_sampler, brownian=_device(noise_device))
    old: torch.Tensor | None = None
    h_last: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        h = None
        if sigma_next == 0:
            x = denoised
        else:
            h = half_log_snr(model, sigma_next) - half_log_snr(model, sigma)
            eta_h = eta * h if eta > 0 else torch.zeros_like(h)  # h is inf from a flow model's sigma 1
            alpha_t = alpha_of(model, sigma_next)
            gain = -torch.expm1(-h - eta_h)
            x = sigma_next / sigma * (-eta_h).exp() * x + alpha_t * gain * denoised
            if old is not None and h_last is not None:
                inv_r = h / h_last
                if solver_type == "heun":
                    x = x + alpha_t * (gain / (-h - eta_h) + 1) * inv_r * (denoised - old)
                else:
                    x = x + alpha_t * 0.5 * gain * inv_r * (denoised - old)
            if eta > 0 and s_noise > 0:
                x = x + noise(sigma, sigma_next) * sigma_next * (-torch.expm1(-2 * eta_h)).sqrt() * s_noise
        old, h_last = denoised, h
        run.callback(i, x, denoised)
    return x


def dpmpp_3m_sde(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
    noise_device: str = "cpu",
) -> torch.Tensor:
    """SDE-DPM-Solver++(3M): the first-order SDE step with first and second divided differences of the
    last three x0 (phi_2, phi_3 weights); lower order while the history fills."""
    noise = default_noise(x, sigmas, run, noise_sampler, brownian=_device(noise_device))
    d_1: torch.Tensor | None = None
    d_2: torch.Tensor | None = None
    h_1: torch.Tensor | None = None
    h_2: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        h = None
        if sigma_next == 0:
            x = denoised
        else:
            h = half_log_snr(model, sigma_next) - half_log_snr(model, sigma)
            h_eta = h * (eta + 1)
            alpha_t = alpha_of(model, sigma_next)
            decay = (-h * eta).exp() if eta > 0 else torch.ones_like(h)  # h is inf from flow sigma 1
            x = sigma_next / sigma * decay * x - alpha_t * torch.expm1(-h_eta) * denoised
            phi_2 = torch.expm1(-h_eta) / h_eta + 1
            if h_2 is not None and d_2 is not None and d_1 is not None and h_1 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0, d1_1 = (denoised - d_1) / r0, (d_1 - d_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + alpha_t * (phi_2 * d1 - phi_3 * d2)
            elif h_1 is not None and d_1 is not None:
                x = x + alpha_t * phi_2 * (denoised - d_1) * (h / h_1)
            if eta > 0 and s_noise > 0:
                x = x + noise(sigma, sigma_next) * sigma_next * (-torch.expm1(-2 * h * eta)).sqrt() * s_noise
        d_1, d_2 = denoised, d_1
        h_1, h_2 = h, h_1
        run.callback(i, x, denoised)
    return x
