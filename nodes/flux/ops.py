"""FluxGuidance, CLIPTextEncodeFlux and EmptySD3LatentImage (FLUX's and SD3's 16-channel latent)."""

from __future__ import annotations

from typing import Any

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import ClipHandle
from nodes.flux.text import check_flux_clip, encode_flux

Conditioning = list[list[Any]]
SD3_LATENT_CHANNELS = 16


def flux_guidance(ctx: NodeContext, conditioning: Conditioning, guidance: float) -> tuple[Conditioning]:
    """Every entry gets the guidance scale the FLUX dev model embeds (schnell ignores it)."""
    return ([[embeddings, {**extras, "guidance": float(guidance)}] for embeddings, extras in conditioning],)


def clip_text_encode_flux(
    ctx: NodeContext, clip: ClipHandle, clip_l: str, t5xxl: str, guidance: float | None
) -> tuple[Conditioning]:
    check_flux_clip(clip, "CLIPTextEncodeFlux" if guidance is not None else "CLIPTextEncode on FLUX")
    context, pooled = encode_flux(clip, clip_l=clip_l, t5xxl=t5xxl, check=ctx.check_cancelled)
    extras: dict[str, Any] = {"pooled_output": pooled}
    if guidance is not None:
        extras["guidance"] = float(guidance)
    return ([[context, extras]],)


def empty_sd3_latent_image(
    ctx: NodeContext, width: int, height: int, batch_size: int = 1
) -> tuple[dict[str, Any]]:
    # Zeros in the model's latent space (the VAE handle applies scale and shift on decode).
    return ({"samples": torch.zeros(batch_size, SD3_LATENT_CHANNELS, height // 8, width // 8)},)
