"""UniPC (Zhao et al. 2023, "UniPC: a unified predictor-corrector framework"), multistep, data
prediction, with B(h) = h ("bh1", uni_pc) or B(h) = e^h - 1 ("bh2", uni_pc_bh2).

As ComfyUI runs it: the solver's order is min(3, steps - 1), lower while the history fills and again
toward the end ("lower_order_final"); UniC corrects every step but the last (its evaluation at the
predicted point is reused as the next step's history, so there is one evaluation per step); a final
sigma 0 is replaced by 0.001, so the result is the latent at sigma 0.001 (no last x0 substitution).
Written in variance-exploding terms (lambda = -log sigma), which are the VP equations of the paper
divided through by alpha.
"""

from __future__ import annotations

import math

import torch

from nodes.sampling.samplers.contract import Denoiser, SamplerRun

_FINAL_SIGMA = 0.001


def _coefficients(
    rks: list[float], hh: float, variant: str, order: int
) -> tuple[list[list[float]], list[float], float]:
    """The order conditions R rho = b of the paper (Theorem 3) for step hh = -h, and B(h)."""
    b_h = hh if variant == "bh1" else math.expm1(hh)
    h_phi_k = math.expm1(hh) / hh - 1
    factorial = 1
    rows, rhs = [], []
    for k in range(1, order + 1):
        rows.append([rk ** (k - 1) for rk in rks])
        rhs.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return rows, rhs, b_h


def _solve(rows: list[list[float]], rhs: list[float]) -> list[float]:
    return torch.linalg.solve(
        torch.tensor(rows, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64)
    ).tolist()


def _uni_pc(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun, variant: str
) -> torch.Tensor:
    steps = len(sigmas) - 1
    if steps < 1:
        return x
    grid = [float(s) for s in sigmas]
    if grid[-1] == 0:
        grid[-1] = _FINAL_SIGMA
    order = max(1, min(3, steps - 1))
    lams = [-math.log(s) for s in grid]
    sig = [sigmas.new_tensor(s) for s in grid]
    denoised = model(x, sigmas[0])
    history = [denoised]  # x0 at grid[0], grid[1], ... (newest last)
    for k in range(1, steps + 1):  # the step from grid[k - 1] to grid[k]
        this_order = min(k, order, steps + 1 - k)
        h = lams[k] - lams[k - 1]
        hh = -h
        m0 = history[-1]
        rks = [(lams[k - 1 - j] - lams[k - 1]) / h for j in range(1, this_order)]
        d1s = [(history[-1 - j] - m0) / rk for j, rk in zip(range(1, this_order), rks, strict=True)]
        rows, rhs, b_h = _coefficients([*rks, 1.0], hh, variant, this_order)
        x_lin = (grid[k] / grid[k - 1]) * x - math.expm1(hh) * m0
        if d1s:
            rhos_p = [0.5] if this_order == 2 else _solve([r[:-1] for r in rows[:-1]], rhs[:-1])
            x_pred = x_lin - b_h * sum(r * d for r, d in zip(rhos_p, d1s, strict=True))
        else:
            x_pred = x_lin
        if k == steps:
            x = x_pred
            run.callback(k - 1, x, m0)
            break
        model_t = model(x_pred, sig[k])
        rhos_c = [0.5] if this_order == 1 else _solve(rows, rhs)
        corr = sum(r * d for r, d in zip(rhos_c[:-1], d1s, strict=True)) if d1s else 0
        x = x_lin - b_h * (corr + rhos_c[-1] * (model_t - m0))
        history = [*history, model_t][-order:]
        run.callback(k - 1, x, m0)
    return x


def uni_pc(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun) -> torch.Tensor:
    """UniPC with B(h) = h (UniPC-bh1)."""
    return _uni_pc(model, x, sigmas, run, "bh1")


def uni_pc_bh2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, run: SamplerRun) -> torch.Tensor:
    """UniPC with B(h) = e^h - 1 (UniPC-bh2)."""
    return _uni_pc(model, x, sigmas, run, "bh2")
