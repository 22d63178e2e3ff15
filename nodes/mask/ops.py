"""Implementations of the mask nodes. MASK is float [B, H, W] in [0, 1]; [H, W] is accepted as one mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nodes.context import NodeContext

IMAGE_CHANNELS = ("red", "green", "blue", "alpha")


def as_batch(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """[H, W] or [B, H, W] (or [B, 1, H, W]) as [B, H, W] float."""
    if mask.dim() < 2:
        raise ValueError(
            f"Input {name!r} must be a mask [batch, height, width], got shape {tuple(mask.shape)}."
        )
    return mask.reshape(-1, mask.shape[-2], mask.shape[-1]).float()


def repeat_to_batch(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """Cycle or cut a batch to `size` items, as ComfyUI lines up batches of different lengths."""
    if tensor.shape[0] == size:
        return tensor
    if tensor.shape[0] > size:
        return tensor[:size]
    repeats = -(-size // tensor.shape[0])
    return tensor.repeat(repeats, *([1] * (tensor.dim() - 1)))[:size]


def solid_mask(ctx: NodeContext, value: float, width: int, height: int) -> tuple[torch.Tensor]:
    return (torch.full((1, height, width), float(value), dtype=torch.float32),)


def invert_mask(ctx: NodeContext, mask: torch.Tensor) -> tuple[torch.Tensor]:
    return (1.0 - as_batch(mask),)


def mask_to_image(ctx: NodeContext, mask: torch.Tensor) -> tuple[torch.Tensor]:
    # Grey RGB: the same value in all three channels.
    return (as_batch(mask).unsqueeze(-1).repeat(1, 1, 1, 3),)


def image_to_mask(ctx: NodeContext, image: torch.Tensor, channel: str) -> tuple[torch.Tensor]:
    index = IMAGE_CHANNELS.index(channel)
    if index >= image.shape[-1]:
        raise ValueError(
            f"Input 'channel': the image has {image.shape[-1]} channel(s) and no {channel} channel."
        )
    return (image[..., index].float(),)


def grow_mask(
    ctx: NodeContext, mask: torch.Tensor, expand: int, tapered_corners: bool
) -> tuple[torch.Tensor]:
    """Grey dilation (expand > 0) or erosion (< 0), one pixel per step.

    Each step takes the max (or min) over a 3x3 neighbourhood, or over the
    4-neighbour cross when the corners are tapered, with edge pixels repeated
    past the border.
    """
    out = as_batch(mask)
    height, width = out.shape[-2:]
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    if tapered_corners:
        offsets = [(dy, dx) for dy, dx in offsets if dy == 0 or dx == 0]
    for _ in range(abs(expand)):
        padded = F.pad(out.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
        shifted = torch.stack(
            [padded[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in offsets]
        )
        out = shifted.amax(dim=0) if expand > 0 else shifted.amin(dim=0)
    return (out.clone(),)


def feather_mask(
    ctx: NodeContext, mask: torch.Tensor, left: int, top: int, right: int, bottom: int
) -> tuple[torch.Tensor]:
    """Fade each edge linearly: the outermost row or column keeps 1/n of its value, the n-th all of it."""
    out = as_batch(mask).clone()
    height, width = out.shape[-2:]
    # Wider than the mask: the ramp covers the whole mask, as in ComfyUI.
    left, right, top, bottom = min(left, width), min(right, width), min(top, height), min(bottom, height)

    def ramp(n: int) -> torch.Tensor:
        return (torch.arange(n, dtype=torch.float32) + 1.0) / n

    if left:
        out[:, :, :left] *= ramp(left)
    if right:
        out[:, :, width - right :] *= ramp(right).flip(0)
    if top:
        out[:, :top, :] *= ramp(top)[:, None]
    if bottom:
        out[:, height - bottom :, :] *= ramp(bottom).flip(0)[:, None]
    return (out,)


def threshold_mask(ctx: NodeContext, mask: torch.Tensor, value: float) -> tuple[torch.Tensor]:
    return ((as_batch(mask) > value).float(),)


def mask_composite(
    ctx: NodeContext, destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str
) -> tuple[torch.Tensor]:
    """Combine `source`, placed at (x, y), into `destination`; what falls outside is dropped."""
    dest = as_batch(destination, "destination")
    src = as_batch(source, "source")
    height, width = dest.shape[-2:]
    if x >= width or y >= height:
        raise ValueError(
            f"Inputs 'x', 'y': ({x}, {y}) places the source outside the {width}x{height} destination."
        )
    dest, src = _broadcast_batches(dest, src)
    dest = dest.clone()
    visible_h, visible_w = min(src.shape[1], height - y), min(src.shape[2], width - x)
    region = dest[:, y : y + visible_h, x : x + visible_w]
    part = src[:, :visible_h, :visible_w]
    if operation == "multiply":
        combined = region * part
    elif operation == "add":
        combined = region + part
    elif operation == "subtract":
        combined = region - part
    elif operation in ("and", "or", "xor"):
        # Logical operations on the rounded masks, as in ComfyUI.
        logical = {"and": torch.logical_and, "or": torch.logical_or, "xor": torch.logical_xor}[operation]
        combined = logical(region.round().bool(), part.round().bool()).float()
    else:
        raise ValueError(f"Input 'operation': unknown operation {operation!r}.")
    dest[:, y : y + visible_h, x : x + visible_w] = combined
    return (dest.clamp(0.0, 1.0),)


def _broadcast_batches(dest: torch.Tensor, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Equal batches pair up; a batch of one applies to every item of the other."""
    if dest.shape[0] == src.shape[0] or src.shape[0] == 1:
        return dest, src
    if dest.shape[0] == 1:
        return dest.expand(src.shape[0], -1, -1), src
    raise ValueError(
        f"Inputs 'destination' and 'source' have batches of {dest.shape[0]} and {src.shape[0]} masks; "
        "they must be equal or one of them must be 1."
    )


def crop_mask(
    ctx: NodeContext, mask: torch.Tensor, x: int, y: int, width: int, height: int
) -> tuple[torch.Tensor]:
    """The region at (x, y); like ComfyUI, it is smaller where it runs past the mask's edge."""
    out = as_batch(mask)
    if x >= out.shape[2] or y >= out.shape[1]:
        raise ValueError(f"Inputs 'x', 'y': ({x}, {y}) is outside the {out.shape[2]}x{out.shape[1]} mask.")
    return (out[:, y : y + height, x : x + width].clone(),)
