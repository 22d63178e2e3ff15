"""LTX-Video's nodes (ComfyUI's behaviour).

An LTX-Video latent is (batch, 128, 1 + (length - 1) // 8, height / 32, width / 32). Its schedule and
model sampling shift with the number of latent tokens: mu = tokens * m + b, the line through
(1024, base_shift) and (4096, max_shift), used as FLUX's exponential time shift
sigma' = e^mu / (e^mu + 1/sigma - 1). LTXVScheduler may then stretch the schedule so its last non-zero
sigma is `terminal`. LTXVImgToVideo puts the image's latent in the first latent frame and a noise mask
that keeps it (1 - strength).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import ModelHandle, VaeHandle
from nodes.sampling.model_sampling import ModelSampling

LATENT_CHANNELS = 128
TEMPORAL, SPATIAL = 8, 32
# The token counts the shift is linear between, and the count without a latent (ComfyUI's).
BASE_TOKENS, MAX_TOKENS = 1024, 4096
Conditioning = list[list[Any]]


def latent_frames(length: int) -> int:
    return (length - 1) // TEMPORAL + 1


def _empty(width: int, height: int, length: int, batch_size: int) -> torch.Tensor:
    shape = (batch_size, LATENT_CHANNELS, latent_frames(length), height // SPATIAL, width // SPATIAL)
    return torch.zeros(shape)


def empty_ltxv_latent_video(
    ctx: NodeContext, width: int, height: int, length: int, batch_size: int = 1
) -> tuple[dict[str, Any]]:
    return ({"samples": _empty(width, height, length, batch_size)},)


def ltxv_conditioning(
    ctx: NodeContext, positive: Conditioning, negative: Conditioning, frame_rate: float
) -> tuple[Conditioning, Conditioning]:
    def tag(cond: Conditioning) -> Conditioning:
        return [[embeddings, {**extras, "frame_rate": float(frame_rate)}] for embeddings, extras in cond]

    return tag(positive), tag(negative)


def shift_mu(max_shift: float, base_shift: float, latent: dict[str, Any] | None) -> float:
    tokens = MAX_TOKENS if latent is None else math.prod(latent["samples"].shape[2:])
    slope = (max_shift - base_shift) / (MAX_TOKENS - BASE_TOKENS)
    return tokens * slope + (base_shift - slope * BASE_TOKENS)


def ltxv_sigmas(
    steps: int, max_shift: float, base_shift: float, stretch: bool, terminal: float, latent: Any = None
) -> torch.Tensor:
    mu = shift_mu(float(max_shift), float(base_shift), latent)
    t = torch.linspace(1.0, 0.0, int(steps) + 1, dtype=torch.float64)
    sigmas = torch.zeros_like(t)
    live = t != 0
    sigmas[live] = math.exp(mu) / (math.exp(mu) + (1.0 / t[live] - 1.0))
    if stretch:
        # 1 - sigma scaled so the last non-zero sigma lands on `terminal`; the first stays 1.
        one_minus = 1.0 - sigmas[live]
        sigmas[live] = 1.0 - one_minus / (one_minus[-1] / (1.0 - float(terminal)))
    return sigmas.float()


def ltxv_scheduler(
    ctx: NodeContext,
    steps: int,
    max_shift: float,
    base_shift: float,
    stretch: bool,
    terminal: float,
    latent: dict[str, Any] | None = None,
) -> tuple[torch.Tensor]:
    return (ltxv_sigmas(steps, max_shift, base_shift, stretch, terminal, latent),)


def model_sampling_ltxv(
    ctx: NodeContext,
    model: ModelHandle,
    max_shift: float,
    base_shift: float,
    latent: dict[str, Any] | None = None,
) -> tuple[ModelHandle]:
    mu = shift_mu(float(max_shift), float(base_shift), latent)
    base = model.model_sampling
    multiplier = base.multiplier if base is not None and base.prediction == "flow" else 1000.0
    ms = ModelSampling(
        prediction="flow", shift=mu, multiplier=multiplier, flux_shift=True, flow_points=10_000
    )
    return (dataclasses.replace(model, model_sampling=ms),)


def ltxv_img_to_video(
    ctx: NodeContext,
    positive: Conditioning,
    negative: Conditioning,
    vae: VaeHandle,
    image: torch.Tensor,
    width: int,
    height: int,
    length: int,
    batch_size: int,
    strength: float,
) -> tuple[Conditioning, Conditioning, dict[str, Any]]:
    from nodes.wan.ops import resize_center

    if not hasattr(vae, "encode_frames") or vae.downscale != SPATIAL:
        raise ValueError("LTXVImgToVideo needs LTX-Video's VAE (the checkpoint's) to encode the image.")
    first = vae.encode_frames(resize_center(image[:1], width, height), ctx.device)
    latent = _empty(width, height, length, batch_size)
    latent[:, :, :1] = first[:, :, :1]
    mask = torch.ones(batch_size, 1, latent.shape[2], latent.shape[3], latent.shape[4])
    mask[:, :, :1] = 1.0 - float(strength)
    return positive, negative, {"samples": latent, "noise_mask": mask}
