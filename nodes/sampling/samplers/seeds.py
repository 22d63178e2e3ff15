"""SEEDS-2 and SEEDS-3 (Gonzalez et al. 2023, "SEEDS: Exponential SDE solvers"): stochastic
exponential Runge-Kutta steps in data prediction over the half-log-SNR, eta scaling the SDE part.

Within a step each stage is a stochastic exponential step from lambda_s; the noise of a later stage is
the earlier stage's noise carried forward (scaled by e^(-eta dh)) plus fresh noise for the rest of the
interval, so all stages see one Brownian path and the full step's noise has the exact variance
sigma_t^2 (1 - e^(-2 eta h)).
"""

from __future__ import annotations

import torch

from nodes.sampling.noise import NoiseSampler
from nodes.sampling.samplers.common import (
    alpha_of,
    default_noise,
    half_log_snr,
    offset_first_sigma,
    sigma_of_half_log_snr,
)
from nodes.sampling.samplers.contract import Denoiser, SamplerRun


def _phi_1(h: torch.Tensor) -> torch.Tensor:
    return torch.expm1(h)  # h * phi_1(h)


def _phi_2(h: torch.Tensor) -> torch.Tensor:
    return (torch.expm1(h) - h) / h  # h * phi_2(h)


class _Path:
    """The within-step Brownian path: `advance` carries the noise from one stage's lambda to the next."""

    def __init__(self, noise: NoiseSampler, h: torch.Tensor, eta: float, active: bool) -> None:
        self.noise, self.h, self.eta, self.active = noise, h, eta, active
        self.value: torch.Tensor | None = None
        self.at = 0.0

    def advance(self, to: float, sigma_a: torch.Tensor, sigma_b: torch.Tensor) -> torch.Tensor | None:
        if not self.active:
            return None
        factor = (self.at - to) * self.h * self.eta
        fresh = self.noise(sigma_a, sigma_b) * (-torch.expm1(2 * factor)).sqrt()
        self.value = fresh if self.value is None else self.value * factor.exp() + fresh
        self.at = to
        return self.value


def _stage(
    x: torch.Tensor,
    sigma: torch.Tensor,
    sigma_k: torch.Tensor,
    alpha_k: torch.Tensor,
    h: torch.Tensor,
    eta: float,
    r: float,
    terms: list[tuple[torch.Tensor, torch.Tensor]],
) -> torch.Tensor:
    """x at lambda_s + r h: the linear part plus alpha_k * sum(coefficient * x0)."""
    return sigma_k / sigma * (-r * h * eta).exp() * x - alpha_k * sum(c * d for c, d in terms)


def seeds_2(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r: float = 0.5,
    solver_type: str = "phi_1",
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """SEEDS-2: one stage at lambda_s + r h; "phi_1" mixes the two x0 (DPM-Solver++ 2S style), "phi_2"
    weights them with phi_1/phi_2 (the exponential Runge-Kutta tableau)."""
    if solver_type not in ("phi_1", "phi_2"):
        raise ValueError(f"solver_type must be 'phi_1' or 'phi_2', not {solver_type!r}.")
    sigmas = offset_first_sigma(model, sigmas)
    noise = default_noise(x, sigmas, run, noise_sampler)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            lam_s, lam_t = half_log_snr(model, sigma), half_log_snr(model, sigma_next)
            h = lam_t - lam_s
            h_eta = h * (eta + 1)
            sigma_1 = sigma_of_half_log_snr(model, lam_s + r * h)
            path = _Path(noise, h, eta, eta > 0 and s_noise > 0)
            x_2 = _stage(
                x, sigma, sigma_1, alpha_of(model, sigma_1), h, eta, r, [(_phi_1(-r * h_eta), denoised)]
            )
            n = path.advance(r, sigma, sigma_1)
            if n is not None:
                x_2 = x_2 + n * sigma_1 * s_noise
            denoised_2 = model(x_2, sigma_1)
            if solver_type == "phi_1":
                fac = 1 / (2 * r)
                terms = [(_phi_1(-h_eta), (1 - fac) * denoised + fac * denoised_2)]
            else:
                b2 = _phi_2(-h_eta) / r
                terms = [(_phi_1(-h_eta) - b2, denoised), (b2, denoised_2)]
            x = _stage(x, sigma, sigma_next, alpha_of(model, sigma_next), h, eta, 1.0, terms)
            n = path.advance(1.0, sigma_1, sigma_next)
            if n is not None:
                x = x + n * sigma_next * s_noise
        run.callback(i, x, denoised)
    return x


def seeds_3(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    r_1: float = 1 / 3,
    r_2: float = 2 / 3,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """SEEDS-3: stages at lambda_s + r_1 h and + r_2 h (third-order exponential Runge-Kutta)."""
    sigmas = offset_first_sigma(model, sigmas)
    noise = default_noise(x, sigmas, run, noise_sampler)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        if sigma_next == 0:
            x = denoised
        else:
            lam_s, lam_t = half_log_snr(model, sigma), half_log_snr(model, sigma_next)
            h = lam_t - lam_s
            h_eta = h * (eta + 1)
            sigma_1 = sigma_of_half_log_snr(model, lam_s + r_1 * h)
            sigma_2 = sigma_of_half_log_snr(model, lam_s + r_2 * h)
            path = _Path(noise, h, eta, eta > 0 and s_noise > 0)
            x_2 = _stage(
                x, sigma, sigma_1, alpha_of(model, sigma_1), h, eta, r_1, [(_phi_1(-r_1 * h_eta), denoised)]
            )
            n = path.advance(r_1, sigma, sigma_1)
            if n is not None:
                x_2 = x_2 + n * sigma_1 * s_noise
            denoised_2 = model(x_2, sigma_1)
            a2 = r_2 / r_1 * _phi_2(-r_2 * h_eta)
            terms = [(_phi_1(-r_2 * h_eta) - a2, denoised), (a2, denoised_2)]
            x_3 = _stage(x, sigma, sigma_2, alpha_of(model, sigma_2), h, eta, r_2, terms)
            n = path.advance(r_2, sigma_1, sigma_2)
            if n is not None:
                x_3 = x_3 + n * sigma_2 * s_noise
            denoised_3 = model(x_3, sigma_2)
            b3 = _phi_2(-h_eta) / r_2
            x = _stage(
                x,
                sigma,
                sigma_next,
                alpha_of(model, sigma_next),
                h,
                eta,
                1.0,
                [(_phi_1(-h_eta) - b3, denoised), (b3, denoised_3)],
            )
            n = path.advance(1.0, sigma_2, sigma_next)
            if n is not None:
                x = x + n * sigma_next * s_noise
        run.callback(i, x, denoised)
    return x
