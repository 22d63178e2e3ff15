"""The Denoiser samplers call: a Guider's clean-latent prediction at (x, sigma), with noise-mask inpainting.

Each call feeds the network the model's input for `x` at `sigma` (ModelSampling.model_input) and the
timestep ComfyUI gives it (ModelSampling.timestep: for discrete models the nearest training
timestep), gets every needed conditioning's clean-latent prediction from guidance.py (each
network output turned into x0 with ModelSampling.denoised, then averaged over areas) and lets the
Guider combine them.

A LATENT with a noise mask is inpainted as ComfyUI does: before each call the kept region
(mask 0) of the network's input is the original latent noised to the current sigma with the run's
noise, and after it the kept region of the prediction is the original latent. A sampler stepping
towards that prediction keeps the region on the original's noise path and ends on it at sigma 0.
"""

from __future__ import annotations

from typing import Any

import torch

from nodes.diffusion import guidance
from nodes.sampling.guiders import Guider


class Denoiser:
    def __init__(
        self,
        guider: Guider,
        latent: torch.Tensor,
        device: str | torch.device,
        *,
        mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        need_uncond: bool = False,
    ) -> None:
        self.guider = guider
        self.model = guider.model
        self.model_sampling = guider.model_sampling
        self.last_uncond: torch.Tensor | None = None
        conds = dict(guider.conds)
        if "negative" in conds and "positive" in conds:
            # ControlNetApply's controls steer the negative side too (ComfyUI's rule).
            conds["negative"] = guidance.with_uncond_controls(conds["positive"], conds["negative"])
        # LTX-Video sees a kept frame clean, at timestep sigma x mask per token (ComfyUI's LTXV): the mask
        # goes to its call with every entry (nodes/ltxv/call.py).
        self.clean_kept = mask is not None and self.model.family == "ltxv"
        if self.clean_kept:
            conds = {k: [[e, {**x, "denoise_mask": mask}] for e, x in cond] for k, cond in conds.items()}
        self.names = guider.needed(uncond=need_uncond)
        self.entries: dict[str, list[Any]] = {
            name: guidance.prepare(conds[name], latent.shape, str(device), name) for name in self.names
        }
        self.mask = mask
        if mask is not None:
            self.original = latent.to(device)
            self.noise = (noise if noise is not None else torch.zeros_like(latent)).to(device)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        ms = self.model_sampling
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        if self.mask is not None:
            kept = self.original if self.clean_kept else ms.noise_scaling(sigma, self.noise, self.original)
            x = x * self.mask + kept * (1.0 - self.mask)
        predictions = guidance.predict_outputs(
            self.model,
            ms.model_input(sigma, x),
            ms.timestep(sigma.to(x.device)),
            [self.entries[name] for name in self.names],
            sigma=sigma,
            model_sampling=ms,
            x=x,
        )
        x0 = dict(zip(self.names, predictions, strict=True))
        denoised, uncond = self.guider.combine(x0)
        if self.mask is not None:
            denoised = denoised * self.mask + self.original * (1.0 - self.mask)
            uncond = uncond * self.mask + self.original * (1.0 - self.mask)
        self.last_uncond = uncond
        return denoised
