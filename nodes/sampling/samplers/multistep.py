"""Linear multistep ODE samplers over sigma: LMS (variable-step Adams-Bashforth), DPM-Solver++(2M)
(Lu et al. 2022, Algorithm 2) and its CFG++ form, and iPNDM (Zhang & Chen 2022) with fixed or
variable-step coefficients. Each starts at first order and builds its history one step at a time."""

from __future__ import annotations

import numpy as np
import torch

from nodes.sampling.samplers.common import to_d, uncond_of
from nodes.sampling.samplers.contract import Denoiser, SamplerRun


def lms_coefficients(sigmas: np.ndarray, i: int, order: int) -> list[float]:
    """Integrals over [sigma_i, sigma_{i+1}] of the Lagrange basis through sigma_i, ..., sigma_{i-order+1}
    (exact polynomial integration; newest first)."""
    nodes = [sigmas[i - j] for j in range(order)]
    out = []
    for j in range(order):
        others = [nodes[k] for k in range(order) if k != j]
        poly = np.polynomial.Polynomial.fromroots(others) if others else np.polynomial.Polynomial([1.0])
        poly = poly / float(np.prod([nodes[j] - o for o in others])) if others else poly
        antider = poly.integ()
        out.append(float(antider(sigmas[i + 1]) - antider(sigmas[i])))
    return out


def lms(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, *, order: int = 4
) -> torch.Tensor:
    """Linear multistep: integrate the polynomial through the last `order` slopes dx/dsigma."""
    if order < 1:
        raise ValueError(f"order must be at least 1, not {order}.")
    grid = sigmas.detach().cpu().double().numpy()
    slopes: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        slopes.insert(0, to_d(x, sigmas[i], denoised))
        del slopes[order:]
        coefficients = lms_coefficients(grid, i, len(slopes))
        x = x + sum(c * d for c, d in zip(coefficients, slopes, strict=True))
        run.callback(i, x, denoised)
    return x


def _dpmpp_2m(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, cfg_pp: bool
) -> torch.Tensor:
    old: torch.Tensor | None = None  # the previous step's x0 (CFG++: its unconditional x0)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma)
        uncond = uncond_of(model, denoised) if cfg_pp else denoised
        if sigma_next == 0:
            x = denoised
        else:
            ratio = sigma_next / sigma  # e^-h with t = -log(sigma)
            mixed = denoised
            if old is not None:
                h, h_last = -ratio.log(), (sigmas[i - 1] / sigma).log()
                # x0 extrapolated to the step's midpoint from the last two (Lu et al. eq. for 2M)
                mixed = denoised + (denoised - old) * (h / (2 * h_last))
            if cfg_pp:
                x = ratio * (x - uncond) + denoised + (mixed - denoised) * (1 - ratio)
            else:
                x = ratio * x + (1 - ratio) * mixed
        old = uncond
        run.callback(i, x, denoised)
    return x


def dpmpp_2m(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun) -> torch.Tensor:
    """DPM-Solver++(2M): data-prediction exponential integrator, x0 extrapolated from the last two
    steps; first order on the first step, and the step to sigma 0 returns the model's x0."""
    return _dpmpp_2m(model, x, sigmas, run, cfg_pp=False)


def dpmpp_2m_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun) -> torch.Tensor:
    """DPM-Solver++(2M) with CFG++: x re-noised along the unconditional x0, the correction built from
    the guided x0 minus the previous unconditional one."""
    return _dpmpp_2m(model, x, sigmas, run, cfg_pp=True)


# iPNDM's fixed Adams-Bashforth weights (newest slope first), orders 1-4
_AB = {1: (1.0,), 2: (1.5, -0.5), 3: (23 / 12, -16 / 12, 5 / 12), 4: (55 / 24, -59 / 24, 37 / 24, -9 / 24)}


def _variable_ab(h: list[float]) -> tuple[float, ...]:
    """iPNDM-v's weights from the step sizes h = [h_n, h_{n-1}, ...] (zju-pi/diff-sampler's variable-step
    Adams-Bashforth approximation; equal to `_AB` on a uniform grid)."""
    order = len(h)
    if order == 1:
        return (1.0,)
    h0, h1 = h[0], h[1]
    c1, c2 = (2 + h0 / h1) / 2, -(h0 / h1) / 2
    if order == 2:
        return (c1, c2)
    h2 = h[2]
    t1 = (1 - h0 / (3 * (h0 + h1)) * (h0 * (h0 + h1)) / (h1 * (h1 + h2))) / 2
    if order == 3:
        return (c1 + t1, c2 - (1 + h1 / h2) * t1, t1 * h1 / h2)
    h3 = h[3]
    q = h1 * (h1 + h2) / (h2 * (h2 + h3))
    t2 = (
        ((1 - h0 / (3 * (h0 + h1))) / 2 + (1 - h0 / (2 * (h0 + h1))) * h0 / (6 * (h0 + h1 + h2)))
        * (h0 * (h0 + h1) * (h0 + h1 + h2))
        / (h1 * (h1 + h2) * (h1 + h2 + h3))
    )
    return (
        c1 + t1 + t2,
        c2 - (1 + h1 / h2) * t1 - (1 + h1 / h2 + q) * t2,
        t1 * h1 / h2 + (h1 / h2 + q * (1 + h2 / h3)) * t2,
        -t2 * q * h1 / h2,
    )


def _ipndm(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, max_order: int, variable: bool
) -> torch.Tensor:
    if not 1 <= max_order <= 4:
        raise ValueError(f"max_order must be between 1 and 4, not {max_order}.")
    grid = [float(s) for s in sigmas]
    slopes: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        slopes.insert(0, to_d(x, sigmas[i], denoised))
        del slopes[max_order:]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            order = len(slopes)
            steps = [grid[i + 1 - k] - grid[i - k] for k in range(order)]
            weights = _variable_ab(steps) if variable else _AB[order]
            x = x + (sigmas[i + 1] - sigmas[i]) * sum(w * d for w, d in zip(weights, slopes, strict=True))
        run.callback(i, x, denoised)
    return x


def ipndm(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, *, max_order: int = 4
) -> torch.Tensor:
    """Improved PNDM: Adams-Bashforth up to 4th order with uniform-step weights, lower order while the
    history fills; the step to sigma 0 returns the model's x0."""
    return _ipndm(model, x, sigmas, run, max_order, variable=False)


def ipndm_v(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, *, max_order: int = 4
) -> torch.Tensor:
    """iPNDM with weights recomputed from the actual sigma steps (for non-uniform schedules)."""
    return _ipndm(model, x, sigmas, run, max_order, variable=True)
