"""Latent transforms: resize, batch slicing, composite, blend, flip, rotate, crop.

Every op returns a new LATENT dict with new tensors; the keys it does not compute
("noise_mask", "batch_index") are carried over from its first input, as in ComfyUI.
Sizes and positions are in pixels, as ComfyUI's widgets are, and become latent
pixels by integer division by 8.
"""

from __future__ import annotations

from typing import Any

import torch

from nodes.context import NodeContext
from nodes.latent.fields import as_mask_batch, batch_indices, mask_for_batch
from nodes.latent.resize import resize_latent

Latent = dict[str, Any]
LATENT_DOWNSCALE = 8

FLIP_DIMS = {"x-axis: vertically": 2, "y-axis: horizontally": 3}
# ComfyUI's rotations are clockwise; torch.rot90 turns from the first dim towards the second.
ROTATIONS = {"none": 0, "90 degrees": 1, "180 degrees": 2, "270 degrees": 3}


def latent_upscale(
    ctx: NodeContext, samples: Latent, upscale_method: str, width: int, height: int, crop: str
) -> tuple[Latent]:
    source = samples["samples"]
    if width == 0 and height == 0:
        return ({**samples, "samples": source.clone()},)
    latent_h, latent_w = source.shape[-2:]
    # A zero side follows the other one, keeping the aspect ratio (ComfyUI's rule).
    if width == 0:
        width = round(latent_w * height / latent_h)
    if height == 0:
        height = round(latent_h * width / latent_w)
    # Unlike ComfyUI, a side below 64 px is not silently raised to 64: it is honoured, or refused.
    for name, value in (("width", width), ("height", height)):
        if value < LATENT_DOWNSCALE:
            raise ValueError(f"{name} {value} is smaller than one latent pixel ({LATENT_DOWNSCALE} px).")
    resized = resize_latent(
        source, width // LATENT_DOWNSCALE, height // LATENT_DOWNSCALE, upscale_method, crop
    )
    return ({**samples, "samples": resized},)


def latent_upscale_by(
    ctx: NodeContext, samples: Latent, upscale_method: str, scale_by: float
) -> tuple[Latent]:
    source = samples["samples"]
    latent_h, latent_w = source.shape[-2:]
    width, height = round(latent_w * scale_by), round(latent_h * scale_by)
    if width < 1 or height < 1:
        raise ValueError(
            f"scale_by {scale_by} turns the {latent_w * LATENT_DOWNSCALE}x{latent_h * LATENT_DOWNSCALE} "
            "latent into an empty one."
        )
    return ({**samples, "samples": resize_latent(source, width, height, upscale_method, "disabled")},)


def latent_from_batch(ctx: NodeContext, samples: Latent, batch_index: int, length: int) -> tuple[Latent]:
    source = samples["samples"]
    size = source.shape[0]
    # ComfyUI clamps both silently; a slice that is not there is an error here.
    if batch_index >= size:
        raise ValueError(f"batch_index {batch_index} is past the end of a batch of {size} latents.")
    stop = batch_index + length
    if stop > size:
        raise ValueError(
            f"length {length} from batch_index {batch_index} runs past the end of a batch of {size} latents."
        )
    out = {**samples, "samples": source[batch_index:stop].clone()}
    if "noise_mask" in samples:
        mask = as_mask_batch(samples["noise_mask"], "noise_mask")
        # One mask serves every latent; per-latent masks are sliced with their latents.
        if mask.shape[0] > 1:
            mask = mask_for_batch(mask, size)[batch_index:stop]
        out["noise_mask"] = mask.clone()
    # Remember where the latents came from, so the sampler gives them the noise they had in the batch.
    previous = batch_indices(samples) or list(range(size))
    out["batch_index"] = previous[batch_index:stop]
    return (out,)


def repeat_latent_batch(ctx: NodeContext, samples: Latent, amount: int) -> tuple[Latent]:
    source = samples["samples"]
    out = {**samples, "samples": source.repeat(amount, 1, 1, 1)}
    if "noise_mask" in samples:
        mask = as_mask_batch(samples["noise_mask"], "noise_mask")
        if mask.shape[0] > 1:
            mask = mask_for_batch(mask, source.shape[0]).repeat(amount, 1, 1, 1)
        out["noise_mask"] = mask.clone()
    indices = batch_indices(samples)
    if indices is not None:
        # Each copy takes indices past the previous copy's, so copies get their own noise (ComfyUI's rule).
        span = max(indices) - min(indices) + 1
        out["batch_index"] = [index + copy * span for copy in range(amount) for index in indices]
    return (out,)


def latent_composite(
    ctx: NodeContext, samples_to: Latent, samples_from: Latent, x: int, y: int, feather: int
) -> tuple[Latent]:
    target, source = samples_to["samples"], samples_from["samples"]
    _check_pair(target, source, "samples_from")
    left, top, ramp = x // LATENT_DOWNSCALE, y // LATENT_DOWNSCALE, feather // LATENT_DOWNSCALE
    target_h, target_w = target.shape[-2:]
    if left >= target_w:
        raise ValueError(f"x {x} is outside samples_to, which is {target_w * LATENT_DOWNSCALE} px wide.")
    if top >= target_h:
        raise ValueError(f"y {y} is outside samples_to, which is {target_h * LATENT_DOWNSCALE} px high.")
    # The part of samples_from that lands inside samples_to.
    height, width = min(source.shape[2], target_h - top), min(source.shape[3], target_w - left)
    piece = source[:, :, :height, :width].to(target.dtype)
    out = target.clone()
    region = out[:, :, top : top + height, left : left + width]
    if ramp == 0:
        region[...] = piece
    else:
        # Fade the pasted edges in over `feather` pixels, except edges lying on samples_to's border.
        rows = _edge_ramp(height, ramp, fade_start=top > 0, fade_end=top + height < target_h)
        cols = _edge_ramp(width, ramp, fade_start=left > 0, fade_end=left + width < target_w)
        weight = (rows[:, None] * cols[None, :]).to(target.device, target.dtype)
        region[...] = piece * weight + region * (1.0 - weight)
    return ({**samples_to, "samples": out},)


def _edge_ramp(length: int, ramp: int, *, fade_start: bool, fade_end: bool) -> torch.Tensor:
    """Per-position weight: (d + 1) / ramp for the d-th pixel from a faded edge, 1 further in."""
    weight = torch.ones(length)
    steps = torch.clamp((torch.arange(length, dtype=torch.float32) + 1) / ramp, max=1.0)
    if fade_start:
        weight = weight * steps
    if fade_end:
        weight = weight * steps.flip(0)
    return weight


def latent_blend(ctx: NodeContext, samples1: Latent, samples2: Latent, blend_factor: float) -> tuple[Latent]:
    first, second = samples1["samples"], samples2["samples"]
    _check_pair(first, second, "samples2")
    if second.shape[-2:] != first.shape[-2:]:
        # ComfyUI resizes samples2 to samples1's size (bicubic, centre crop) before blending.
        second = resize_latent(second, first.shape[3], first.shape[2], "bicubic", "center")
    blended = first * blend_factor + second.to(first.dtype) * (1.0 - blend_factor)
    return ({**samples1, "samples": blended},)


def latent_flip(ctx: NodeContext, samples: Latent, flip_method: str) -> tuple[Latent]:
    if flip_method not in FLIP_DIMS:
        raise ValueError(f"flip_method {flip_method!r} is not one of {', '.join(FLIP_DIMS)}.")
    return ({**samples, "samples": torch.flip(samples["samples"], dims=(FLIP_DIMS[flip_method],))},)


def latent_rotate(ctx: NodeContext, samples: Latent, rotation: str) -> tuple[Latent]:
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation {rotation!r} is not one of {', '.join(ROTATIONS)}.")
    # dims (3, 2): from width towards height, which is clockwise on screen.
    rotated = torch.rot90(samples["samples"], k=ROTATIONS[rotation], dims=(3, 2))
    return ({**samples, "samples": rotated},)


def latent_crop(ctx: NodeContext, samples: Latent, width: int, height: int, x: int, y: int) -> tuple[Latent]:
    source = samples["samples"]
    latent_h, latent_w = source.shape[-2:]
    left, top = x // LATENT_DOWNSCALE, y // LATENT_DOWNSCALE
    right, bottom = left + width // LATENT_DOWNSCALE, top + height // LATENT_DOWNSCALE
    # ComfyUI moves x and y back inside and trims what does not fit; here a crop must fit as given.
    if right > latent_w:
        raise ValueError(
            f"x {x} + width {width} reaches past the latent's width of {latent_w * LATENT_DOWNSCALE} px."
        )
    if bottom > latent_h:
        raise ValueError(
            f"y {y} + height {height} reaches past the latent's height of {latent_h * LATENT_DOWNSCALE} px."
        )
    return ({**samples, "samples": source[:, :, top:bottom, left:right].clone()},)


def _check_pair(first: torch.Tensor, second: torch.Tensor, name: str) -> None:
    if second.shape[1] != first.shape[1]:
        raise ValueError(f"{name} has {second.shape[1]} latent channels, the other input {first.shape[1]}.")
    if second.shape[0] not in (first.shape[0], 1):
        raise ValueError(
            f"{name} has a batch of {second.shape[0]}; it must be 1 or the other input's {first.shape[0]}."
        )
