"""DPM-Solver (Lu et al. 2022, noise prediction) on its own grid in t = -log(sigma): dpm_fast (the
paper's "DPM-Solver-fast" order split of a fixed evaluation budget, Algorithm 1/2 steps of order 3,
2, 1) and dpm_adaptive (the paper's adaptive step size, DPM-Solver-23 with an embedded lower-order
error estimate and a PID step-size controller).

As ComfyUI runs them, both ignore the schedule's shape: they go from the first sigma to the last
non-zero one (so they end at that sigma, leaving its noise), dpm_fast spending len(sigmas) - 1
evaluations. The callback fires once per solver step (dpm_fast: floor(n / 3) + 1 steps; adaptive:
once per accepted step).
"""

from __future__ import annotations

import math

import torch

from nodes.sampling.noise import NoiseSampler
from nodes.sampling.samplers.common import ancestral_step, default_noise
from nodes.sampling.samplers.contract import Denoiser, SamplerRun

Tensor = torch.Tensor
Cache = dict[str, torch.Tensor]


class _Solver:
    """DPM-Solver steps in t, with each evaluation's eps cached per step (the 2- and 3-stage steps share)."""

    def __init__(self, model: Denoiser) -> None:
        self.model = model

    @staticmethod
    def sigma(t: torch.Tensor) -> torch.Tensor:
        return t.neg().exp()

    def eps(self, cache: dict[str, torch.Tensor], key: str, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if key not in cache:
            sigma = self.sigma(t)
            cache[key] = (x - self.model(x, sigma)) / sigma
        return cache[key]

    def step_1(self, x: Tensor, t: Tensor, t_next: Tensor, cache: Cache) -> Tensor:
        h = t_next - t
        return x - self.sigma(t_next) * torch.expm1(h) * self.eps(cache, "eps", x, t)

    def step_2(self, x: Tensor, t: Tensor, t_next: Tensor, cache: Cache, r1: float = 0.5) -> Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * torch.expm1(r1 * h) * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return (
            x
            - self.sigma(t_next) * torch.expm1(h) * eps
            - self.sigma(t_next) / (2 * r1) * torch.expm1(h) * (eps_r1 - eps)
        )

    def step_3(
        self, x: Tensor, t: Tensor, t_next: Tensor, cache: Cache, r1: float = 1 / 3, r2: float = 2 / 3
    ) -> Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - self.sigma(s1) * torch.expm1(r1 * h) * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (
            x
            - self.sigma(s2) * torch.expm1(r2 * h) * eps
            - self.sigma(s2) * (r2 / r1) * (torch.expm1(r2 * h) / (r2 * h) - 1) * (eps_r1 - eps)
        )
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return (
            x
            - self.sigma(t_next) * torch.expm1(h) * eps
            - self.sigma(t_next) / r2 * (torch.expm1(h) / h - 1) * (eps_r2 - eps)
        )

    def ancestral(self, t: Tensor, t_next: Tensor, eta: float, t_end: Tensor) -> tuple[Tensor, Tensor | None]:
        """The deterministic target in t and the noise to add (eta 0: none)."""
        if not eta:
            return t_next, None
        down = ancestral_step(self.sigma(t), self.sigma(t_next), eta).down
        t_down = torch.minimum(t_end, -down.log())
        return t_down, (self.sigma(t_next) ** 2 - self.sigma(t_down) ** 2).clamp(min=0).sqrt()


def _range(sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    sigma_min = sigmas[-1] if sigmas[-1] > 0 else sigmas[-2]
    return -sigmas[0].log(), -sigma_min.log()


def dpm_fast(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    eta: float = 0.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    if len(sigmas) <= 1:
        return x
    nfe = len(sigmas) - 1
    t_start, t_end = _range(sigmas)
    noise = default_noise(x, sigmas, run, noise_sampler) if eta else None
    solver = _Solver(model)
    m = nfe // 3 + 1
    ts = torch.linspace(float(t_start), float(t_end), m + 1, dtype=sigmas.dtype, device=sigmas.device)
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    for i, order in enumerate(orders):
        cache: dict[str, torch.Tensor] = {}
        t, t_next = ts[i], ts[i + 1]
        t_target, su = solver.ancestral(t, t_next, eta, t_end)
        denoised = x - solver.sigma(t) * solver.eps(cache, "eps", x, t)
        step = (solver.step_1, solver.step_2, solver.step_3)[order - 1]
        x = step(x, t, t_target, cache)
        if su is not None and noise is not None:
            x = x + su * s_noise * noise(solver.sigma(t), solver.sigma(t_next))
        run.callback(i, x, denoised)
    return x


class _PID:
    """PID step-size control on the inverse error (Söderlind's form; integral-only by default)."""

    def __init__(
        self, h: float, pcoeff: float, icoeff: float, dcoeff: float, order: float, accept_safety: float
    ) -> None:
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = accept_safety
        self.errs: list[float] = []

    def propose(self, error: float) -> bool:
        inv = 1 / (error + 1e-8)
        if not self.errs:
            self.errs = [inv, inv, inv]
        self.errs[0] = inv
        factor = self.errs[0] ** self.b1 * self.errs[1] ** self.b2 * self.errs[2] ** self.b3
        factor = 1 + math.atan(factor - 1)  # limiter
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2], self.errs[1] = self.errs[1], self.errs[0]
        self.h *= factor
        return accept


def dpm_adaptive(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    order: int = 3,
    rtol: float = 0.05,
    atol: float = 0.0078,
    h_init: float = 0.05,
    pcoeff: float = 0.0,
    icoeff: float = 1.0,
    dcoeff: float = 0.0,
    accept_safety: float = 0.81,
    eta: float = 0.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    if order not in (2, 3):
        raise ValueError(f"order must be 2 or 3, not {order}.")
    if len(sigmas) <= 1:
        return x
    t_start, t_end = _range(sigmas)
    noise = default_noise(x, sigmas, run, noise_sampler) if eta else None
    solver = _Solver(model)
    pid = _PID(abs(h_init), pcoeff, icoeff, dcoeff, 1.5 if eta else order, accept_safety)
    s, x_prev, accepted = t_start, x, 0
    while s < t_end - 1e-5:
        cache: dict[str, torch.Tensor] = {}
        t = torch.minimum(t_end, s + pid.h)
        t_target, su = solver.ancestral(s, t, eta, t_end)
        denoised = x - solver.sigma(s) * solver.eps(cache, "eps", x, s)
        if order == 2:
            x_low, x_high = solver.step_1(x, s, t_target, cache), solver.step_2(x, s, t_target, cache)
        else:
            x_low = solver.step_2(x, s, t_target, cache, r1=1 / 3)
            x_high = solver.step_3(x, s, t_target, cache)
        delta = torch.maximum(torch.tensor(atol), rtol * torch.maximum(x_low.abs(), x_prev.abs()))
        error = float(torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5)
        if pid.propose(error):
            x_prev = x_low
            x = x_high
            if su is not None and noise is not None:
                x = x + su * s_noise * noise(solver.sigma(s), solver.sigma(t))
            s = t
            run.callback(accepted, x, denoised)
            accepted += 1
    return x
