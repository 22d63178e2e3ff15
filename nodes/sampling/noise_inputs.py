"""What a sampling run starts from: the seed's noise, the LATENT's noise mask, the first-step scaling."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from nodes.latent.fields import as_mask_batch, batch_indices, mask_for_batch
from nodes.sampling.model_sampling import ModelSampling


def initial_noise(latent_image: dict[str, Any], seed: int) -> torch.Tensor:
    """The seed's noise for the LATENT, from a CPU generator so a seed gives the same image on every
    device. Latents taken out of a batch (LatentFromBatch) get the noise they had in it: the whole
    original batch is drawn and their positions kept (ComfyUI's batch_index)."""
    latent = latent_image["samples"]
    generator = torch.Generator("cpu").manual_seed(seed)
    indices = batch_indices(latent_image)
    if indices is None:
        return torch.randn(latent.shape, generator=generator, dtype=torch.float32)
    full = torch.randn((max(indices) + 1, *latent.shape[1:]), generator=generator, dtype=torch.float32)
    return full[indices]


def noise_mask(latent_image: dict[str, Any], device: str | torch.device) -> torch.Tensor | None:
    """The LATENT's "noise_mask" resized to the latent, one per image, or None."""
    if latent_image.get("noise_mask") is None:
        return None
    latent = latent_image["samples"]
    given = latent_image["noise_mask"]
    if latent.dim() == 5 and isinstance(given, torch.Tensor) and given.dim() == 5:
        # A video latent's per-frame mask (B, 1, T, H, W), as LTXVImgToVideo gives: 0 keeps a frame.
        video = F.interpolate(given.float().to(device), size=tuple(latent.shape[-3:]), mode="trilinear")
        return video if video.shape[0] == latent.shape[0] else video.expand(latent.shape[0], -1, -1, -1, -1)
    mask = as_mask_batch(given, "noise_mask").to(device)
    mask = F.interpolate(mask, size=tuple(latent.shape[-2:]), mode="bilinear")
    return mask_for_batch(mask, latent.shape[0])


def max_denoise(model_sampling: ModelSampling, sigmas: torch.Tensor) -> bool:
    """Whether the run starts from the model's largest sigma (or above): a full-strength txt2img
    run, whose first latent gets noise of variance sigma^2 + 1 (ComfyUI's rule)."""
    first, largest = float(sigmas[0]), model_sampling.sigma_max
    return math.isclose(largest, first, rel_tol=1e-5) or first > largest
