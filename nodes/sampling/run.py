"""One sampling run: noise the LATENT, step a sampler function along sigmas, hand back the LATENT.

Shared by KSampler/KSamplerAdvanced (nodes/diffusion/ops.py) and SamplerCustom(Advanced)
(nodes/custom_sampling/ops.py). ComfyUI's order: x = noise_scaling(sigmas[0], noise, latent,
max_denoise) (noise of variance sigma^2 + 1 on a full-strength first step of a discrete model),
the sampler runs on a Denoiser, and the final x goes through inverse_noise_scaling.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

from nodes.context import NodeContext
from nodes.diffusion.patching import patched
from nodes.sampling.denoiser import Denoiser
from nodes.sampling.guiders import Guider
from nodes.sampling.noise_inputs import max_denoise, noise_mask
from nodes.sampling.samplers import SamplerRun, sampler_function


@dataclass(frozen=True)
class SamplerChoice:
    """A SAMPLER value: a sampler name and its options (KSamplerSelect, the Sampler* nodes)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SampleResult:
    samples: torch.Tensor  # the final latent (CPU)
    denoised: torch.Tensor | None  # the last step's clean-latent prediction (CPU), None if no step ran


@torch.inference_mode()
def sample(
    ctx: NodeContext,
    guider: Guider,
    sampler: SamplerChoice,
    sigmas: torch.Tensor,
    latent_image: dict[str, Any],
    noise: torch.Tensor,
    seed: int,
) -> SampleResult:
    """Denoise latent_image["samples"] along `sigmas` (descending) starting from `noise` (zeros: none).

    A single sigma runs no step: the latent comes back noised to it (ComfyUI's behaviour)."""
    fn = sampler_function(sampler.name)  # an unknown name fails before anything runs
    check_options(sampler.name, sampler.options)
    latent = latent_image["samples"].float()
    if len(sigmas) == 0:
        return SampleResult(latent.clone(), None)  # no schedule: ComfyUI returns the latent as it came
    device = ctx.device
    ms = guider.model_sampling
    sigmas = sigmas.float().to(device)
    mask = noise_mask(latent_image, device)
    latent_on, noise_on = latent.to(device), noise.float().to(device)
    x = ms.noise_scaling(sigmas[0], noise_on, latent_on, max_denoise=max_denoise(ms, sigmas))
    # CFG++ samplers ("..._cfg_pp") re-noise with the unconditional prediction, also at cfg 1.
    need_uncond = sampler.name.endswith("_cfg_pp")
    denoiser = Denoiser(guider, latent_on, device, mask=mask, noise=noise_on, need_uncond=need_uncond)
    total = len(sigmas) - 1
    last: dict[str, torch.Tensor] = {}

    def callback(i: int, _x: torch.Tensor, denoised: torch.Tensor) -> None:
        last["x0"] = denoised
        ctx.progress(min(i + 1, total), total)
        ctx.check_cancelled()

    ctx.check_cancelled()
    # Checked once per step here: the worker's per-module checks would only slow the steps down.
    with ctx.stepwise(), patched(guider.model.unet, guider.model.patches, role="unet"):
        x = fn(denoiser, x, sigmas, SamplerRun(seed=seed, callback=callback), **sampler.options)
    if mask is not None and float(sigmas[-1]) == 0.0:
        # At sigma 0 the kept region is the original exactly (the sampler's arithmetic lands there
        # only up to float rounding, which would make the result depend on the seed).
        x = x * mask + latent_on * (1.0 - mask)
    x = ms.inverse_noise_scaling(sigmas[-1], x)
    denoised = last.get("x0")
    return SampleResult(x.cpu(), denoised.cpu() if denoised is not None else None)


def check_options(name: str, options: dict[str, Any]) -> None:
    """Refuse options the sampler function does not take (a Sampler* node and its function must agree)."""
    params = inspect.signature(sampler_function(name)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ValueError(f"Sampler {name!r} takes no option {', '.join(map(repr, unknown))}.")
