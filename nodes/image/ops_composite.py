"""Image nodes that place pixels: padding for outpainting and masked compositing."""

from __future__ import annotations

import torch

from nodes.context import NodeContext
from nodes.image.ops import match_channels, resize
from nodes.mask.ops import as_batch, repeat_to_batch


def image_pad_for_outpaint(
    ctx: NodeContext, image: torch.Tensor, left: int, top: int, right: int, bottom: int, feathering: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey (0.5) borders around the image and a mask that is 1 on them.

    With feathering, the mask also ramps from 1 at a padded edge down to 0 at
    `feathering` pixels inside the image (quadratically, as ComfyUI does), so that
    the sampler blends new content into the old. Like ComfyUI, the mask is one
    [1, H, W] mask for the whole batch.
    """
    batch, height, width, channels = image.shape
    out = torch.full((batch, height + top + bottom, width + left + right, channels), 0.5, dtype=torch.float32)
    out[:, top : top + height, left : left + width, :] = image
    mask = torch.ones((height + top + bottom, width + left + right), dtype=torch.float32)
    inner = torch.zeros((height, width), dtype=torch.float32)
    # ComfyUI skips feathering when the ramps from opposite sides would meet.
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
        cols = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width)
        # Distance to each padded side; an unpadded side is never nearer than the image size.
        distances = torch.stack(
            (
                rows if top else torch.full_like(rows, height),
                height - rows if bottom else torch.full_like(rows, height),
                cols if left else torch.full_like(cols, width),
                width - cols if right else torch.full_like(cols, width),
            )
        )
        nearest = distances.amin(dim=0)
        ramp = ((feathering - nearest) / feathering) ** 2
        inner = torch.where(nearest < feathering, ramp, inner)
    mask[top : top + height, left : left + width] = inner
    return out, mask.unsqueeze(0)


def image_composite_masked(
    ctx: NodeContext,
    destination: torch.Tensor,
    source: torch.Tensor,
    x: int,
    y: int,
    resize_source: bool,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor]:
    """Paste `source` over `destination` at (x, y), weighted by `mask` (1 = source).

    As in ComfyUI: the output has the destination's batch size (the source and
    mask batches are cycled or cut to it), the mask is stretched to the source's
    size, and what falls outside the destination is dropped.
    """
    batch, height, width, channels = destination.shape
    if x >= width or y >= height:
        raise ValueError(
            f"Inputs 'x', 'y': ({x}, {y}) places the source outside the {width}x{height} destination."
        )
    source = match_channels(source, channels, "source").to(destination.device, torch.float32)
    if resize_source:
        source = resize(source, width, height, "bilinear")
    source = repeat_to_batch(source, batch)
    src_h, src_w = source.shape[1], source.shape[2]
    if mask is None:
        weight = torch.ones((batch, src_h, src_w), dtype=torch.float32)
    else:
        weight = as_batch(mask)
        if weight.shape[1:] != (src_h, src_w):
            weight = resize(weight.unsqueeze(-1), src_w, src_h, "bilinear")[..., 0]
        weight = repeat_to_batch(weight, batch)
    visible_h, visible_w = min(src_h, height - y), min(src_w, width - x)
    weight = weight[:, :visible_h, :visible_w, None].to(destination.device)
    out = destination.clone().float()
    region = out[:, y : y + visible_h, x : x + visible_w, :]
    out[:, y : y + visible_h, x : x + visible_w, :] = (
        weight * source[:, :visible_h, :visible_w, :] + (1.0 - weight) * region
    )
    return (out,)
