"""Implementations of the latent nodes: empty latents, the VAE round trip, inpainting masks.

Resizing, batch slicing and the other latent transforms are in ops_transform.py.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from nodes.context import NodeContext
from nodes.diffusion.handles import VaeHandle
from nodes.latent.fields import as_mask_batch

LATENT_CHANNELS = 4
LATENT_DOWNSCALE = 8


def empty_latent_image(
    ctx: NodeContext, width: int, height: int, batch_size: int = 1
) -> tuple[dict[str, Any]]:
    shape = (batch_size, LATENT_CHANNELS, height // LATENT_DOWNSCALE, width // LATENT_DOWNSCALE)
    return ({"samples": torch.zeros(shape)},)


@torch.inference_mode()
def vae_decode(ctx: NodeContext, samples: dict[str, Any], vae: VaeHandle) -> tuple[torch.Tensor]:
    if vae.temporal:  # SVD: the batch is one video's frames, decoded in chunks
        from nodes.svd.vae import decode_frames

        return (decode_frames(ctx, samples["samples"], vae),)
    if hasattr(vae, "decode_frames"):  # a video VAE (Wan 2.1): every latent's frames, one IMAGE batch
        return (vae.decode_frames(samples["samples"], ctx.device),)
    latents = samples["samples"].to(ctx.device, vae.vae.dtype) / vae.scaling_factor + vae.shift_factor
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
    return ({"samples": _encode(ctx, pixels[:, :height, :width], vae)},)


@torch.inference_mode()
def vae_encode_for_inpaint(
    ctx: NodeContext, pixels: torch.Tensor, vae: VaeHandle, mask: torch.Tensor, grow_mask_by: int = 6
) -> tuple[dict[str, Any]]:
    step = vae.downscale
    source_h, source_w = pixels.shape[1], pixels.shape[2]
    height, width = (source_h // step) * step, (source_w // step) * step
    if height == 0 or width == 0:
        raise ValueError(f"pixels are smaller than the VAE's {step}x{step} pixel grid.")
    masks = as_mask_batch(mask)
    if masks.shape[0] not in (1, pixels.shape[0]):
        raise ValueError(
            f"mask has a batch of {masks.shape[0]}; it must be 1 or match the {pixels.shape[0]} images."
        )
    # The mask follows the image's size; then both lose the same centred margin to fit the VAE grid.
    masks = F.interpolate(masks, size=(source_h, source_w), mode="bilinear")
    top, left = (source_h % step) // 2, (source_w % step) // 2
    pixels = pixels[:, top : top + height, left : left + width]
    hard = masks[:, :, top : top + height, left : left + width].round()
    # Masked pixels become neutral grey, so their old content does not leak into the latent.
    keep = (1.0 - hard).permute(0, 2, 3, 1)
    pixels = (pixels[..., :3] - 0.5) * keep + 0.5
    samples = _encode(ctx, pixels, vae)
    return ({"samples": samples, "noise_mask": _grow(hard, grow_mask_by)},)


def _grow(mask: torch.Tensor, by: int) -> torch.Tensor:
    """Dilate a 0/1 mask with a `by` x `by` window, so the sampler repaints a seam around it."""
    if by == 0:
        return mask.clone()
    # ComfyUI's window: for an even size it reaches one pixel further right and down.
    padding = math.ceil((by - 1) / 2)
    grown = F.max_pool2d(mask, kernel_size=by, stride=1, padding=padding)
    return grown[:, :, : mask.shape[2], : mask.shape[3]].contiguous()


def set_latent_noise_mask(
    ctx: NodeContext, samples: dict[str, Any], mask: torch.Tensor
) -> tuple[dict[str, Any]]:
    masks = as_mask_batch(mask)
    batch = samples["samples"].shape[0]
    if masks.shape[0] not in (1, batch):
        raise ValueError(f"mask has a batch of {masks.shape[0]}; it must be 1 or match the {batch} latents.")
    return ({**samples, "noise_mask": masks.clone()},)


def _encode(ctx: NodeContext, pixels: torch.Tensor, vae: VaeHandle) -> torch.Tensor:
    if hasattr(vae, "encode_frames"):  # a video VAE: the IMAGE batch is one clip's frames
        return vae.encode_frames(pixels, ctx.device)
    x = pixels[..., :3].permute(0, 3, 1, 2).to(ctx.device, vae.vae.dtype) * 2.0 - 1.0
    # The mode of the posterior: deterministic, as ComfyUI's VAEEncode is.
    latents = (vae.vae.encode(x).latent_dist.mode() - vae.shift_factor) * vae.scaling_factor
    return latents.float().cpu()
