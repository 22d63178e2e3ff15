"""ER-SDE-Solver-3 (Cui et al. 2023, "Elucidating the solution space of extended reverse-time SDE").

In the variance-exploding view (y = x / alpha, lam = sigma / alpha) the extended reverse SDE with noise
scale function phi has the exact step y_t = r y_s + phi_t * integral over [lam_t, lam_s] of
phi'(l) / phi(l)^2 x0(l) dl + sqrt(lam_t^2 - lam_s^2 r^2) z, r = phi(lam_t) / phi(lam_s). Expanding x0
to first and second order in lam (divided differences of the last x0) and integrating by parts gives
the three stages; the remaining integrals of 1/phi are computed by Gauss-Legendre quadrature. The
default phi(l) = l (e^(l^0.3) + 10) is the paper's choice (ComfyUI's too).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nodes.sampling.noise import NoiseSampler
from nodes.sampling.samplers.common import alpha_of, default_noise, gauss_legendre, offset_first_sigma
from nodes.sampling.samplers.contract import Denoiser, SamplerRun

NoiseScaler = Callable[[torch.Tensor], torch.Tensor]


def default_er_sde_noise_scaler(lam: torch.Tensor) -> torch.Tensor:
    return lam * ((lam**0.3).exp() + 10.0)


def er_sde_noise_scaler(solver_type: str = "ER-SDE", eta: float = 1.0) -> tuple[NoiseScaler, float]:
    """The noise scale function of ComfyUI's SamplerER_SDE choices and the s_noise factor they imply:
    the paper's ER-SDE function, the reverse-time SDE family phi(l) = l^(1 + eta) (eta 1: the
    reverse-time VP SDE), or phi(l) = l, which makes the step the probability-flow ODE's (no noise)."""
    if solver_type == "ER-SDE":
        return default_er_sde_noise_scaler, 1.0
    if solver_type == "ODE" or (solver_type == "Reverse-time SDE" and eta == 0):
        return (lambda lam: lam), 0.0
    if solver_type == "Reverse-time SDE":
        return (lambda lam: lam ** (1 + eta)), 1.0
    raise ValueError(f"solver_type must be 'ER-SDE', 'Reverse-time SDE' or 'ODE', not {solver_type!r}.")


def _integral(fn: Callable[[torch.Tensor], torch.Tensor], a: float, b: float) -> float:
    points, weights = gauss_legendre(a, b, 32)
    values = fn(torch.tensor(points, dtype=torch.float64))
    return float((values * torch.tensor(weights, dtype=torch.float64)).sum())


def _offset_over(phi: NoiseScaler, at: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda v: (v - at) / phi(v)


def er_sde(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
    noise_scaler: NoiseScaler | None = None,
    max_stage: int = 3,
) -> torch.Tensor:
    if not 1 <= max_stage <= 3:
        raise ValueError(f"max_stage must be 1, 2 or 3, not {max_stage}.")
    phi = noise_scaler or default_er_sde_noise_scaler
    sigmas = offset_first_sigma(model, sigmas)
    noise = default_noise(x, sigmas, run, noise_sampler)
    alphas = torch.stack([alpha_of(model, s) for s in sigmas])
    lams = [float(s) / float(a) for s, a in zip(sigmas, alphas, strict=True)]
    old: torch.Tensor | None = None
    old_d: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        stage = min(max_stage, i + 1)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lam_s, lam_t = lams[i], lams[i + 1]
            alpha_t = alphas[i + 1]
            phi_s, phi_t = (float(phi(torch.tensor(v, dtype=torch.float64))) for v in (lam_s, lam_t))
            r = phi_t / phi_s
            x = (alpha_t / alphas[i]) * r * x + alpha_t * (1 - r) * denoised
            if stage >= 2 and old is not None:
                dt = lam_t - lam_s
                s_1 = _integral(lambda v: 1 / phi(v), lam_t, lam_s)
                d = (denoised - old) / (lam_s - lams[i - 1])
                x = x + alpha_t * (dt + s_1 * phi_t) * d
                if stage >= 3 and old_d is not None:
                    s_2 = _integral(_offset_over(phi, lam_s), lam_t, lam_s)
                    u = (d - old_d) / ((lam_s - lams[i - 2]) / 2)
                    x = x + alpha_t * (dt**2 / 2 + s_2 * phi_t) * u
                old_d = d
            if s_noise > 0:
                spread = max(lam_t**2 - lam_s**2 * r**2, 0.0) ** 0.5
                x = x + alpha_t * noise(sigmas[i], sigmas[i + 1]) * s_noise * spread
        old = denoised
        run.callback(i, x, denoised)
    return x
