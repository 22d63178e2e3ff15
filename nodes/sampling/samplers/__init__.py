"""ComfyUI's samplers, each a function over a sigma schedule (k-diffusion's formulation).

A sampler is ``fn(model, x, sigmas, run, **options) -> x``:

- `model` is a Denoiser: ``model(x, sigma)`` returns the guided clean-latent prediction (x0) for the
  noisy latent `x` at noise level `sigma` (a 0-dim tensor); after each call ``model.last_uncond`` holds
  the unconditional x0 of that call (CFG++ samplers re-noise with it) and ``model.model_sampling`` says
  how the model relates sigma, timesteps and noise (flow models take other ancestral steps).
- `x` starts at ``sigmas[0]``'s noise level (already noised by the caller); the sampler steps it along
  `sigmas` (descending, usually ending in 0) and returns the final latent.
- `run` carries the seed for the sampler's own noise (ancestral and SDE samplers: see noise.py)
  and ``run.callback(i, x, denoised)``, called once after each step i (progress and the cancel check).
- `options` are a sampler's tunables with ComfyUI's defaults (eta, s_noise, ...), which the
  ``Sampler*`` nodes set.

Written from the papers each function cites, in ComfyUI's sigma terms; never from ComfyUI's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from nodes.sampling.model_sampling import ModelSampling


class Denoiser(Protocol):
    model_sampling: ModelSampling
    last_uncond: torch.Tensor | None

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...


@dataclass
class SamplerRun:
    seed: int
    callback: Callable[[int, torch.Tensor, torch.Tensor], None]


SamplerFn = Callable[..., torch.Tensor]


def euler(
    model: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    run: SamplerRun,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
) -> torch.Tensor:
    """Euler's method on the probability-flow ODE dx/dsigma = (x - x0) / sigma (Karras et al. 2022,
    Algorithm 2 with churn; churn 0 is plain Euler, ComfyUI's default)."""
    generator = torch.Generator("cpu").manual_seed(run.seed)
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        gamma = min(s_churn / (len(sigmas) - 1), 2**0.5 - 1) if s_tmin <= sigma <= s_tmax else 0.0
        if gamma > 0:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            sigma_hat = sigma * (gamma + 1)
            x = x + noise * s_noise * (sigma_hat**2 - sigma**2) ** 0.5
            sigma = sigma_hat
        denoised = model(x, sigma)
        x = x + (x - denoised) / sigma * (sigmas[i + 1] - sigma)
        run.callback(i, x, denoised)
    return x


# name -> function; every name in names.IMPLEMENTED_SAMPLERS has one.
SAMPLER_FUNCTIONS: dict[str, SamplerFn] = {"euler": euler}


def sampler_function(name: str) -> SamplerFn:
    try:
        return SAMPLER_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"Sampler {name!r} is not implemented here.") from None
