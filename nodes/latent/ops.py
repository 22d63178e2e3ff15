"""Implementations of the latent nodes."""

from __future__ import annotations

from typing import Any

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import VaeHandle

LATENT_CHANNELS = 4
LATENT_DOWNSCALE = 8


def empty_latent_image(
    ctx: NodeContext, width: int, height: int, batch_size: int = 1
) -> tuple[dict[str, Any]]:
    shape = (batch_size, LATENT_CHANNELS, height // LATENT_DOWNSCALE, width // LATENT_DOWNSCALE)
    return ({"samples": torch.zeros(shape)},)


@torch.inference_mode()
def vae_decode(ctx: NodeContext, samples: dict[str, Any], vae: VaeHandle) -> tuple[torch.Tensor]:
    latents = samples["samples"].to(ctx.device, vae.vae.dtype) / vae.scaling_factor
    decoded = vae.vae.decode(latents).sample
    # diffusers decodes to [-1, 1] NCHW; ComfyUI's IMAGE is [0, 1] NHWC.
    images = ((decoded.float() + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu()
    return (images,)


@torch.inference_mode()
def vae_encode(ctx: NodeContext, pixels: torch.Tensor, vae: VaeHandle) -> tuple[dict[str, Any]]:
    # ComfyUI crops pixels to a multiple of the VAE's downscale factor.
    step = vae.downscale
    height, width = (pixels.shape[1] // step) * step, (pixels.shape[2] // step) * step
    if height == 0 or width == 0:
        raise ValueError(f"Image is smaller than the VAE's {step}x{step} pixel grid.")
    pixels = pixels[:, :height, :width, :3]
    x = pixels.permute(0, 3, 1, 2).to(ctx.device, vae.vae.dtype) * 2.0 - 1.0
    # The mode of the posterior: deterministic, as ComfyUI's VAEEncode is.
    latents = vae.vae.encode(x).latent_dist.mode() * vae.scaling_factor
    return ({"samples": latents.float().cpu()},)
