"""The noise ComfyUI's stochastic samplers draw at each step: a seeded Gaussian or a Brownian tree.

A noise sampler is ``noise(sigma, sigma_next) -> tensor shaped like x`` with unit variance per element.

- `gaussian_noise_sampler`: fresh independent noise per call from one generator seeded with the run's
  seed (the ancestral samplers, er_sde, seeds, sa_solver, ddpm, lcm). It lives on the CPU so a seed
  gives the same numbers on any device.
- `BrownianTreeNoiseSampler`: the increments W(sigma_next) - W(sigma) / sqrt(|sigma_next - sigma|)
  of one Brownian motion over [sigma_min, sigma_max] (torchsde's BrownianTree, seeded with the run's
  seed). Calls over overlapping intervals are correlated the way a Brownian path is, and the path does
  not depend on the step count, so an SDE sampler converges as steps grow (the DPM++ SDE samplers).
  ComfyUI's `_gpu` sampler names keep the tree on the latent's device instead of the CPU: the same
  law, other numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def gaussian_noise_sampler(x: torch.Tensor, seed: int) -> NoiseSampler:
    generator = torch.Generator("cpu").manual_seed(seed)

    def sample(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        return torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)

    return sample


class BrownianTreeNoiseSampler:
    """Brownian increments between two noise levels, from one seeded tree spanning [sigma_min, sigma_max]."""

    def __init__(
        self, x: torch.Tensor, sigma_min: float, sigma_max: float, seed: int, *, cpu: bool = True
    ) -> None:
        import torchsde  # worker-only dependency, imported where it is used

        self._device, self._dtype = x.device, x.dtype
        tree_device = torch.device("cpu") if cpu else x.device
        tree_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        t0, t1 = float(min(sigma_min, sigma_max)), float(max(sigma_min, sigma_max))
        w0 = torch.zeros(x.shape, dtype=tree_dtype, device=tree_device)
        self._tree = torchsde.BrownianTree(t0, w0, t1, entropy=seed)
        # the tree keeps its ends rounded to its tolerance (1e-6) and clamps queries to them; clamp
        # here the same way so a query a rounding error outside is not warned about
        self._t0, self._t1 = round(t0, 6), round(t1, 6)

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        a, b = float(sigma), float(sigma_next)
        low, high = (a, b) if a <= b else (b, a)
        sign = 1.0 if a <= b else -1.0
        low, high = max(low, self._t0), min(high, self._t1)
        if high <= low:
            return torch.zeros((), device=self._device, dtype=self._dtype)
        w = self._tree(low, high) * sign / (high - low) ** 0.5
        return w.to(self._device, self._dtype)


def brownian_noise_sampler(
    x: torch.Tensor, sigmas: torch.Tensor, seed: int, *, cpu: bool = True
) -> NoiseSampler:
    """A Brownian tree over the schedule's range (its smallest non-zero sigma to its largest)."""
    positive = sigmas[sigmas > 0]
    return BrownianTreeNoiseSampler(x, float(positive.min()), float(sigmas.max()), seed, cpu=cpu)
