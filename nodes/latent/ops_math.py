"""Latent arithmetic and batching: add, subtract, multiply, interpolate, batch, seed behaviour, masked paste.

As in ComfyUI, a second latent of another size is first resized to the first one's (bilinear, centre
crop) and cycled to its batch size; the result keeps the first latent's other keys ("noise_mask",
"batch_index"). Every op returns new tensors.
"""

from __future__ import annotations

from typing import Any

import torch

from nodes.context import NodeContext
from nodes.latent.fields import as_mask_batch
from nodes.latent.resize import resize_latent

Latent = dict[str, Any]
LATENT_DOWNSCALE = 8


def latent_add(ctx: NodeContext, samples1: Latent, samples2: Latent) -> tuple[Latent]:
    first, second = _pair(samples1, samples2)
    return ({**samples1, "samples": first + second},)


def latent_subtract(ctx: NodeContext, samples1: Latent, samples2: Latent) -> tuple[Latent]:
    first, second = _pair(samples1, samples2)
    return ({**samples1, "samples": first - second},)


def latent_multiply(ctx: NodeContext, samples: Latent, multiplier: float) -> tuple[Latent]:
    return ({**samples, "samples": samples["samples"] * multiplier},)


def latent_interpolate(ctx: NodeContext, samples1: Latent, samples2: Latent, ratio: float) -> tuple[Latent]:
    """Blend the directions of the two latents per pixel (over channels) and their lengths linearly:
    ratio 1 gives samples1, 0 gives samples2."""
    first, second = _pair(samples1, samples2)
    norm1 = torch.linalg.vector_norm(first, dim=1, keepdim=True)
    norm2 = torch.linalg.vector_norm(second, dim=1, keepdim=True)
    mixed = torch.nan_to_num(first / norm1) * ratio + torch.nan_to_num(second / norm2) * (1 - ratio)
    direction = torch.nan_to_num(mixed / torch.linalg.vector_norm(mixed, dim=1, keepdim=True))
    return ({**samples1, "samples": direction * (norm1 * ratio + norm2 * (1 - ratio))},)


def latent_batch(ctx: NodeContext, samples1: Latent, samples2: Latent) -> tuple[Latent]:
    """samples2 (resized to samples1's size) appended to samples1's batch."""
    first = samples1["samples"]
    second = _resized_to(samples2["samples"], first)
    indices = _indices(samples1, first.shape[0]) + _indices(samples2, second.shape[0])
    return ({**samples1, "samples": torch.cat([first, second.to(first.dtype)]), "batch_index": indices},)


def latent_batch_seed_behavior(ctx: NodeContext, samples: Latent, seed_behavior: str) -> tuple[Latent]:
    """ "fixed": every latent of the batch gets the first one's noise; "random": each its own."""
    out = dict(samples)
    if seed_behavior == "random":
        out.pop("batch_index", None)
    elif seed_behavior == "fixed":
        first = _indices(samples, 1)[0]
        out["batch_index"] = [first] * samples["samples"].shape[0]
    else:
        raise ValueError(f"Input 'seed_behavior': {seed_behavior!r} is not 'random' or 'fixed'.")
    return (out,)


def latent_composite_masked(
    ctx: NodeContext,
    destination: Latent,
    source: Latent,
    x: int,
    y: int,
    resize_source: bool,
    mask: torch.Tensor | None = None,
) -> tuple[Latent]:
    """Paste `source` over `destination` at pixel (x, y), weighted by `mask` (1 = source)."""
    dest = destination["samples"]
    batch, _, height, width = dest.shape
    left, top = min(x // LATENT_DOWNSCALE, width), min(y // LATENT_DOWNSCALE, height)
    src = source["samples"].to(dest.device, dest.dtype)
    if resize_source:
        src = torch.nn.functional.interpolate(src, size=(height, width), mode="bilinear")
    src = _cycled(src, batch)
    visible_h, visible_w = min(src.shape[2], height - top), min(src.shape[3], width - left)
    if mask is None:
        weight = torch.ones_like(src[:, :1])
    else:
        weight = as_mask_batch(mask, "mask").to(dest.device, dest.dtype)
        weight = _cycled(torch.nn.functional.interpolate(weight, size=src.shape[2:], mode="bilinear"), batch)
    weight = weight[:, :, :visible_h, :visible_w]
    out = dest.clone()
    region = out[:, :, top : top + visible_h, left : left + visible_w]
    out[:, :, top : top + visible_h, left : left + visible_w] = (
        weight * src[:, :, :visible_h, :visible_w] + (1 - weight) * region
    )
    return ({**destination, "samples": out},)


def _pair(samples1: Latent, samples2: Latent) -> tuple[torch.Tensor, torch.Tensor]:
    first = samples1["samples"]
    second = _cycled(_resized_to(samples2["samples"], first), first.shape[0])
    if second.shape[1] != first.shape[1]:
        raise ValueError(
            f"Inputs 'samples1' and 'samples2' have {first.shape[1]} and {second.shape[1]} latent channels: "
            "latents of different model families."
        )
    return first, second.to(first.device, first.dtype)


def _resized_to(latent: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if latent.shape[-2:] == like.shape[-2:]:
        return latent
    return resize_latent(latent, like.shape[-1], like.shape[-2], "bilinear", "center")


def _cycled(latent: torch.Tensor, batch: int) -> torch.Tensor:
    """`batch` latents: the given ones repeated in order, then cut (ComfyUI's repeat to batch size)."""
    if latent.shape[0] == batch:
        return latent
    repeats = -(-batch // latent.shape[0])
    return latent.repeat(repeats, *([1] * (latent.ndim - 1)))[:batch]


def _indices(samples: Latent, count: int) -> list[int]:
    return list(samples.get("batch_index", range(count)))
