"""SA-Solver (Xue et al. 2023, "SA-Solver: Stochastic Adams solver"), data prediction in half-log-SNR.

With a noise scale tau (constant over a step) the SDE's step from lambda_s to lambda_t is
x_t = (sigma_t / sigma_s) e^(-tau^2 h) x_s + sum_j b_j x0_j + sigma_t sqrt(1 - e^(-2 tau^2 h)) z, where
b_j = alpha_t (1 + tau^2) * integral over [lambda_s, lambda_t] of e^(-(1 + tau^2)(lambda_t - l)) L_j(l) dl
and L_j is the Lagrange basis through the x0 used (Gauss-Legendre quadrature here). The predictor
(stochastic Adams-Bashforth, order 3) takes the last x0; the corrector (Adams-Moulton, order 4)
redoes the previous step with the new evaluation included and the same noise; "PECE" evaluates the
corrected state again. tau is eta inside the sigma range from sde_start_percent to sde_end_percent of
the schedule and 0 outside (ComfyUI's default interval), and the orders drop near a final sigma 0.
"""

from __future__ import annotations

import math

import torch

from nodes.sampling.noise import NoiseSampler
from nodes.sampling.samplers.common import (
    alpha_of,
    default_noise,
    gauss_legendre,
    half_log_snr,
    offset_first_sigma,
)
from nodes.sampling.samplers.contract import Denoiser, SamplerRun


def adams_coefficients(nodes: list[float], start: float, end: float, tau: float) -> list[float]:
    """b_j / alpha_t for the x0 at `nodes` over the step [start, end] in lambda."""
    rate = 1 + tau * tau
    points, weights = gauss_legendre(start, end, 32)
    out = []
    for j, node in enumerate(nodes):
        total = 0.0
        for p, w in zip(points, weights, strict=True):
            basis = math.prod((p - o) / (node - o) for k, o in enumerate(nodes) if k != j)
            total += w * math.exp(-rate * (end - p)) * basis
        out.append(rate * total)
    return out


def sa_solver(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 1.0,
    sde_start_percent: float = 0.2,
    sde_end_percent: float = 0.8,
    s_noise: float = 1.0,
    predictor_order: int = 3,
    corrector_order: int = 4,
    use_pece: bool = False,
    simple_order_2: bool = False,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    if simple_order_2:
        raise ValueError("simple_order_2 is not supported here; set it to false.")
    if not (1 <= predictor_order <= 6 and 0 <= corrector_order <= 6):
        raise ValueError("predictor_order must be between 1 and 6 and corrector_order between 0 and 6.")
    if len(sigmas) <= 1:
        return x
    sigmas = offset_first_sigma(model, sigmas)
    noise_of = default_noise(x, sigmas, run, noise_sampler)
    start_sigma = model.model_sampling.percent_to_sigma(sde_start_percent)
    end_sigma = model.model_sampling.percent_to_sigma(sde_end_percent)

    def tau_of(sigma: float) -> float:
        return eta if end_sigma <= sigma <= start_sigma else 0.0

    lams = [float(half_log_snr(model, s)) if s > 0 else math.inf for s in sigmas]
    keep = max(predictor_order, corrector_order, 1)
    lower_to_end = float(sigmas[-1]) == 0.0
    x_pred, h, tau, noise = x, 0.0, 0.0, None
    history: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x_pred, sigmas[i])
        history = [*history, denoised][-keep:]
        p_order = min(predictor_order, len(history))
        final = sigmas[i + 1] == 0
        skip = i == 0 or corrector_order == 0 or (final and not use_pece)
        c_order = 0 if skip else min(corrector_order, len(history))
        if lower_to_end:
            p_order = min(p_order, len(sigmas) - 2 - i)
            c_order = min(c_order, len(sigmas) - 1 - i)
        if c_order == 0:
            x = x_pred
        else:
            b = adams_coefficients(lams[i - c_order + 1 : i + 1], lams[i - 1], lams[i], tau)
            alpha_t = alpha_of(model, sigmas[i])
            corr = sum(c * d for c, d in zip(b, history[-c_order:], strict=True))
            x = sigmas[i] / sigmas[i - 1] * math.exp(-tau * tau * h) * x + alpha_t * corr
            if noise is not None:
                x = x + noise
            if use_pece:
                denoised = model(x, sigmas[i])
                history[-1] = denoised
        if final:
            x = denoised
        else:
            tau = tau_of(float(sigmas[i + 1]))
            b = adams_coefficients(lams[i - p_order + 1 : i + 1], lams[i], lams[i + 1], tau)
            alpha_t = alpha_of(model, sigmas[i + 1])
            h = lams[i + 1] - lams[i]
            pred = sum(c * d for c, d in zip(b, history[-p_order:], strict=True))
            x_pred = sigmas[i + 1] / sigmas[i] * math.exp(-tau * tau * h) * x + alpha_t * pred
            noise = None
            if tau > 0 and s_noise > 0:
                spread = math.sqrt(-math.expm1(-2 * tau * tau * h))
                noise = noise_of(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * spread * s_noise
                x_pred = x_pred + noise
        run.callback(i, x if final else x_pred, denoised)
    # a schedule that stops above sigma 0 ends on the last predicted state (it is at that sigma)
    return x if sigmas[-1] == 0 else x_pred


def sa_solver_pece(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, **options: object
) -> torch.Tensor:
    """SA-Solver with the corrected state evaluated again (predict-evaluate-correct-evaluate)."""
    options.setdefault("use_pece", True)
    return sa_solver(model, x, sigmas, run, **options)  # type: ignore[arg-type]
