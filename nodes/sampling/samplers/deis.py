"""DEIS, the time-polynomial Adams-Bashforth form "tAB" (Zhang & Chen 2022, eq. 14), as ComfyUI runs it.

The slope eps = dx/dsigma is interpolated by a polynomial in the VP-SDE time t of the last `order`
steps and integrated exactly against dsigma: x_next = x + sum_j C_j eps_j with
C_j = integral over [t_i, t_{i+1}] of L_j(t) dsigma/dt dt. The sigma <-> t map is the VP-SDE whose
linear beta schedule puts sigma 80 at t = 1 and sigma 0.002 at t = 0.001 (EDM's defaults, the
zju-pi/diff-sampler convention ComfyUI follows), whatever the model's own sigma range.
Lower order while the history fills; the step to sigma 0 is an Euler step (its x0).
"""

from __future__ import annotations

import math

import torch

from nodes.sampling.samplers.common import gauss_legendre, to_d
from nodes.sampling.samplers.contract import Denoiser, SamplerRun

_SIGMA_MIN, _SIGMA_MAX, _T_MIN = 0.002, 80.0, 1e-3
_BETA_D = 2 * (math.log(_SIGMA_MIN**2 + 1) / _T_MIN - math.log(_SIGMA_MAX**2 + 1)) / (_T_MIN - 1)
_BETA_MIN = math.log(_SIGMA_MAX**2 + 1) - 0.5 * _BETA_D


def _t_of_sigma(sigma: float) -> float:
    return (math.sqrt(_BETA_MIN**2 + 2 * _BETA_D * math.log(sigma**2 + 1)) - _BETA_MIN) / _BETA_D


def _dsigma_dt(t: float) -> float:
    # sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)
    e = math.exp(0.5 * _BETA_D * t * t + _BETA_MIN * t)
    return (_BETA_D * t + _BETA_MIN) * e / (2 * math.sqrt(e - 1))


def deis_coefficients(sigmas: list[float], max_order: int) -> list[list[float]]:
    """Per step i, the weights of the slopes at t_i, t_{i-1}, ... (empty: an Euler step)."""
    ts = [_t_of_sigma(s) for s in sigmas]
    out: list[list[float]] = []
    for i in range(len(sigmas) - 1):
        order = min(i + 1, max_order)
        if order == 1 or sigmas[i + 1] <= 0:
            out.append([])
            continue
        nodes = [ts[i - k] for k in range(order)]
        points, weights = gauss_legendre(ts[i], ts[i + 1], 32)
        row = []
        for j in range(order):
            total = 0.0
            for p, w in zip(points, weights, strict=True):
                basis = math.prod((p - nodes[k]) / (nodes[j] - nodes[k]) for k in range(order) if k != j)
                total += w * basis * _dsigma_dt(p)
            row.append(total)
        out.append(row)
    return out


def deis(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, *, max_order: int = 3
) -> torch.Tensor:
    if not 1 <= max_order <= 4:
        raise ValueError(f"max_order must be between 1 and 4, not {max_order}.")
    coefficients = deis_coefficients([float(s) for s in sigmas], max_order)
    slopes: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        slopes.insert(0, to_d(x, sigmas[i], denoised))
        del slopes[max_order:]
        row = coefficients[i]
        if not row:
            x = x + slopes[0] * (sigmas[i + 1] - sigmas[i])
        else:
            x = x + sum(c * d for c, d in zip(row, slopes, strict=False))
        run.callback(i, x, denoised)
    return x
