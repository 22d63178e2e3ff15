"""The sampler contract (see the package docstring): the denoiser a sampler calls, the run it reports to."""

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
