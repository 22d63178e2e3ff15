"""A denoiser whose answers are known in closed form: data x0 ~ N(mu, var) per element.

For the discrete (variance-exploding) models x = x0 + sigma noise; for flow models
x = (1 - sigma) x0 + sigma noise. Then E[x0 | x, sigma] is linear in x, and the probability-flow ODE
keeps each element's standardised value z = (x - a mu) / sqrt(a^2 var + sigma^2) (a = 1 or 1 - sigma)
fixed, so its exact solution from any start is known. Guidance: `cfg` mixes this ("cond") data with an
"uncond" Gaussian, and `last_uncond` holds the unconditional x0, as the real guided denoiser does.
"""

from __future__ import annotations

import math

import torch

from nodes.sampling.model_sampling import ModelSampling

EPS_SAMPLING = ModelSampling.discrete({"beta_schedule": "scaled_linear"})
FLOW_SAMPLING = ModelSampling.flow(shift=3.0)


class GaussianDenoiser:
    def __init__(
        self,
        *,
        flow: bool = False,
        mu: float = 0.5,
        var: float = 0.25,
        uncond: tuple[float, float] | None = None,
        cfg: float = 1.0,
    ) -> None:
        self.model_sampling = FLOW_SAMPLING if flow else EPS_SAMPLING
        self.flow, self.mu, self.var, self.uncond, self.cfg = flow, mu, var, uncond, cfg
        self.last_uncond: torch.Tensor | None = None
        self.calls: list[float] = []

    def alpha(self, sigma: torch.Tensor | float) -> torch.Tensor | float:
        return 1 - sigma if self.flow else 1.0 + 0 * sigma

    def posterior_mean(self, x: torch.Tensor, sigma: torch.Tensor, mu: float, var: float) -> torch.Tensor:
        a = self.alpha(sigma)
        return mu + a * var / (a * a * var + sigma * sigma) * (x - a * mu)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype)
        self.calls.append(float(sigma))
        cond = self.posterior_mean(x, sigma, self.mu, self.var)
        if self.uncond is None:
            self.last_uncond = None
            return cond
        uncond = self.posterior_mean(x, sigma, *self.uncond)
        self.last_uncond = uncond
        return uncond + self.cfg * (cond - uncond)

    def std(self, sigma: float) -> float:
        a = float(self.alpha(torch.tensor(sigma)))
        return (a * a * self.var + sigma * sigma) ** 0.5

    def marginal(self, z: torch.Tensor, sigma: float) -> torch.Tensor:
        """The latent at `sigma` with standardised value z (for z ~ N(0, 1): the noised data)."""
        a = float(self.alpha(torch.tensor(sigma)))
        return a * self.mu + self.std(sigma) * z

    def ode_solution(self, x: torch.Tensor, sigma_from: float, sigma_to: float) -> torch.Tensor:
        a = float(self.alpha(torch.tensor(sigma_from)))
        return self.marginal((x - a * self.mu) / self.std(sigma_from), sigma_to)


def karras_sigmas(n: int, sigma_min: float = 0.03, sigma_max: float = 14.6, rho: float = 7.0) -> torch.Tensor:
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def flow_sigmas(n: int, start: float = 0.98, end: float = 0.03, shift: float = 3.0) -> torch.Tensor:
    t = torch.linspace(start, end, n, dtype=torch.float64)
    return shift * t / (1 + (shift - 1) * t)


class MixtureDenoiser(GaussianDenoiser):
    """Data from a mixture of Gaussians: E[x0 | x, sigma] is a responsibility-weighted sum of the
    components' posterior means, nonlinear in x. Its ODE has no closed form; `reference` integrates it
    with classical Runge-Kutta in log(sigma), independently of the samplers."""

    def __init__(
        self, *, flow: bool = False, components: tuple[tuple[float, float, float], ...] = ()
    ) -> None:
        super().__init__(flow=flow)
        # (weight, mean, variance) per component, as columns against the latent's elements
        weights, means, variances = zip(*(components or ((0.3, -1.0, 0.04), (0.7, 1.0, 0.09))), strict=True)
        self.log_weights = torch.tensor(weights, dtype=torch.float64).log()[:, None]
        self.means = torch.tensor(means, dtype=torch.float64)[:, None]
        self.variances = torch.tensor(variances, dtype=torch.float64)[:, None]

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype)
        self.calls.append(float(sigma))
        self.last_uncond = None
        a, mu, var = self.alpha(sigma), self.means, self.variances
        spread = a * a * var + sigma * sigma
        log_w = self.log_weights - 0.5 * spread.log() - (x - a * mu) ** 2 / (2 * spread)
        return (torch.softmax(log_w, dim=0) * (mu + a * var / spread * (x - a * mu))).sum(dim=0)

    def reference(
        self, x: torch.Tensor, sigma_from: float, sigma_to: float, steps: int = 300
    ) -> torch.Tensor:
        # dx/du = sigma (x - x0) / sigma = x - x0 with u = log(sigma)
        def f(x: torch.Tensor, u: float) -> torch.Tensor:
            return x - self(x, torch.tensor(math.exp(u), dtype=x.dtype))

        u0, u1 = math.log(sigma_from), math.log(sigma_to)
        h = (u1 - u0) / steps
        for k in range(steps):
            u = u0 + k * h
            k1 = f(x, u)
            k2 = f(x + h / 2 * k1, u + h / 2)
            k3 = f(x + h / 2 * k2, u + h / 2)
            k4 = f(x + h * k3, u + h)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        self.calls.clear()
        return x
