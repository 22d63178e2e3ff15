"""Step pieces every sampler family shares: the ODE slope, ancestral splits, half-log-SNR terms, noise."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nodes.sampling.noise import NoiseSampler, brownian_noise_sampler, gaussian_noise_sampler
from nodes.sampling.samplers.contract import Denoiser, SamplerRun


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE's slope dx/dsigma = (x - x0) / sigma (Karras et al. 2022, eq. 3).

    A flow model's ODE dx/dsigma = (x - x0) / sigma has the same form, so the deterministic samplers
    step flow sigmas unchanged."""
    return (x - denoised) / sigma


def is_flow(model: Denoiser) -> bool:
    return getattr(model.model_sampling, "prediction", "eps") == "flow"


def uncond_of(model: Denoiser, denoised: torch.Tensor) -> torch.Tensor:
    """The unconditional x0 of the last call (CFG++); without guidance it is the guided one."""
    uncond = getattr(model, "last_uncond", None)
    return denoised if uncond is None else uncond


@dataclass(frozen=True)
class AncestralStep:
    """Step deterministically to `down`, then x = scale * x + up * noise lands at the next sigma."""

    down: torch.Tensor
    up: torch.Tensor
    scale: torch.Tensor


def ancestral_step(
    sigma: torch.Tensor, sigma_next: torch.Tensor, eta: float, *, flow: bool = False
) -> AncestralStep:
    """Split a step into a deterministic part and fresh noise (eta 1: the DDPM ancestral amount).

    Variance-exploding (eps, v): sigma_up^2 = eta^2 sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2 and
    sigma_down^2 = sigma_next^2 - sigma_up^2 (Song et al. DDIM's eta, in sigma terms).
    Rectified flow: x = (1 - s) x0 + s noise keeps a signal scale, so the step goes down to
    s_down = s_next (1 + (s_next / s - 1) eta), rescales the signal by (1 - s_next) / (1 - s_down) and
    adds the noise that brings the total back to s_next (ComfyUI's "RF" ancestral steps)."""
    zero, one = torch.zeros_like(sigma_next), torch.ones_like(sigma_next)
    if eta == 0 or sigma_next == 0:
        return AncestralStep(sigma_next, zero, one)
    if not flow:
        up = torch.minimum(
            sigma_next, eta * (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2).clamp(min=0).sqrt()
        )
        return AncestralStep((sigma_next**2 - up**2).clamp(min=0).sqrt(), up, one)
    down = (sigma_next * (1 + (sigma_next / sigma - 1) * eta)).clamp(min=0)  # eta > 1 would go below 0
    scale = (1 - sigma_next) / (1 - down)
    up = (sigma_next**2 - down**2 * scale**2).clamp(min=0).sqrt()
    return AncestralStep(down, up, scale)


def add_ancestral_noise(
    x: torch.Tensor, step: AncestralStep, noise: torch.Tensor | None, s_noise: float
) -> torch.Tensor:
    if noise is None:
        return x
    return step.scale * x + noise * s_noise * step.up


# --- half-log-SNR: x = alpha x0 + sigma noise, lambda = log(alpha / sigma) -------------------------
def alpha_of(model: Denoiser, sigma: torch.Tensor) -> torch.Tensor:
    """The signal scale at `sigma`: 1 for the discrete (variance-exploding) models, 1 - sigma for flow."""
    return 1 - sigma if is_flow(model) else torch.ones_like(sigma)


def half_log_snr(model: Denoiser, sigma: torch.Tensor) -> torch.Tensor:
    if is_flow(model):
        return torch.log1p(-sigma) - sigma.log()
    return -sigma.log()


def sigma_of_half_log_snr(model: Denoiser, lam: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(-lam) if is_flow(model) else (-lam).exp()


def offset_first_sigma(model: Denoiser, sigmas: torch.Tensor) -> torch.Tensor:
    """A flow schedule starting at sigma 1 has no signal there (lambda = -inf); the samplers that
    need a finite lambda start a hair below it (ComfyUI: the sigma at 0.01% of the way)."""
    if not is_flow(model) or not len(sigmas):
        return sigmas
    below_one = model.model_sampling.percent_to_sigma(1e-4)
    if float(sigmas[0]) > below_one:
        sigmas = sigmas.clone()
        sigmas[0] = below_one
    return sigmas


def default_noise(
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    noise_sampler: NoiseSampler | None,
    *,
    brownian: str = "",
) -> NoiseSampler:
    """The noise sampler a sampler uses unless one is passed in: "" Gaussian, "cpu"/"gpu" a Brownian tree."""
    if noise_sampler is not None:
        return noise_sampler
    if brownian:
        return brownian_noise_sampler(x, sigmas, run.seed, cpu=brownian == "cpu")
    return gaussian_noise_sampler(x, run.seed)


def gauss_legendre(a: float, b: float, n: int = 24) -> tuple[list[float], list[float]]:
    """Nodes and weights for integrating smooth functions over [a, b] (exact for degree < 2n)."""
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(n)
    half, mid = (b - a) / 2, (b + a) / 2
    return list(mid + half * nodes), list(half * weights)
