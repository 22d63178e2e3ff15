"""Image utilities: stitch, flip, rotate, noise, empty images, alpha join/split, batch slicing.

IMAGE is float [B, H, W, C] in [0, 1]; MASK is [B, H, W] with 1 where masked, so an image's alpha
is 1 - mask (ComfyUI's convention: LoadImage masks the transparent pixels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nodes.context import NodeContext
from nodes.image.ops import match_channels, resize
from nodes.mask.ops import as_batch

SPACING_COLORS: dict[str, tuple[float, float, float]] = {
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
}
ROTATIONS = {"none": 0, "90 degrees": 1, "180 degrees": 2, "270 degrees": 3}


def image_flip(ctx: NodeContext, image: torch.Tensor, flip_method: str) -> tuple[torch.Tensor]:
    # "x-axis: vertically" mirrors top and bottom (about the x axis); "y-axis" mirrors left and right.
    return (torch.flip(image, dims=[1] if flip_method.startswith("x") else [2]),)


def image_rotate(ctx: NodeContext, image: torch.Tensor, rotation: str) -> tuple[torch.Tensor]:
    """Clockwise, as ComfyUI: a quarter turn from the width axis onto the height axis."""
    return (torch.rot90(image, k=ROTATIONS[rotation], dims=[2, 1]),)


def image_add_noise(ctx: NodeContext, image: torch.Tensor, seed: int, strength: float) -> tuple[torch.Tensor]:
    """Gaussian noise from a CPU generator seeded with `seed` (the same image on any device), clipped."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(image.shape, generator=generator, device="cpu").to(image)
    return ((image + strength * noise).clamp(0.0, 1.0),)


def empty_image(
    ctx: NodeContext, width: int, height: int, batch_size: int = 1, color: int = 0
) -> tuple[torch.Tensor]:
    """A batch filled with `color`, 0xRRGGBB."""
    rgb = torch.tensor([(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF], dtype=torch.float32) / 255.0
    return (rgb.expand(batch_size, height, width, 3).contiguous(),)


def image_from_batch(
    ctx: NodeContext, image: torch.Tensor, batch_index: int, length: int
) -> tuple[torch.Tensor]:
    """`length` images from `batch_index`, both cut to what the batch holds (ComfyUI does not fail)."""
    start = min(image.shape[0] - 1, batch_index)
    return (image[start : start + min(image.shape[0] - start, length)].clone(),)


def join_image_with_alpha(ctx: NodeContext, image: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor]:
    """RGB + (1 - mask) as alpha; the mask is resized to the image and the batch is the shorter one."""
    mask = as_batch(alpha, "alpha").to(image.device)
    height, width = image.shape[1], image.shape[2]
    if mask.shape[1:] != (height, width):
        mask = F.interpolate(mask[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    count = min(image.shape[0], mask.shape[0])
    return (torch.cat((image[:count, ..., :3], (1.0 - mask[:count]).unsqueeze(-1).to(image.dtype)), dim=-1),)


def split_image_with_alpha(ctx: NodeContext, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(RGB, 1 - alpha); an image without alpha is opaque, so its mask is all 0."""
    alpha = image[..., 3] if image.shape[-1] > 3 else torch.ones_like(image[..., 0])
    return image[..., :3], 1.0 - alpha


def image_stitch(
    ctx: NodeContext,
    image1: torch.Tensor,
    direction: str = "right",
    match_image_size: bool = True,
    spacing_width: int = 0,
    spacing_color: str = "white",
    image2: torch.Tensor | None = None,
) -> tuple[torch.Tensor]:
    """image2 beside image1 (right, left) or below / above it (down, up), with optional spacing."""
    if image2 is None:
        return (image1,)
    image2 = image2.to(image1.device, image1.dtype)
    batch = max(image1.shape[0], image2.shape[0])
    image1, image2 = _repeat_last(image1, batch), _repeat_last(image2, batch)
    horizontal = direction in ("left", "right")
    fill = SPACING_COLORS[spacing_color]
    if match_image_size:
        # image2 keeps its aspect ratio and takes image1's height (side by side) or width (stacked).
        h1, w1, h2, w2 = image1.shape[1], image1.shape[2], image2.shape[1], image2.shape[2]
        aspect = w2 / h2
        size = (int(h1 * aspect), h1) if horizontal else (w1, int(w1 / aspect))
        image2 = resize(image2, max(1, size[0]), max(1, size[1]), "lanczos").to(image1.device, image1.dtype)
    else:
        # The shorter one is padded, centred; grey-level colours pad with their level, others black.
        pad = fill[0] if len(set(fill)) == 1 else 0.0
        image1, image2 = _pad_across(image1, image2, horizontal, pad)
    channels = max(image1.shape[-1], image2.shape[-1])
    image1, image2 = match_channels(image1, channels, "image1"), match_channels(image2, channels, "image2")
    parts = [image2, image1] if direction in ("left", "up") else [image1, image2]
    if spacing_width > 0:
        width = spacing_width + spacing_width % 2  # even, as ComfyUI
        shape = (
            (batch, max(image1.shape[1], image2.shape[1]), width, channels)
            if horizontal
            else (batch, width, max(image1.shape[2], image2.shape[2]), channels)
        )
        spacing = torch.ones(shape, dtype=image1.dtype, device=image1.device)  # alpha, if any, opaque
        colour = min(3, channels)
        spacing[..., :colour] = torch.tensor(fill[:colour], dtype=image1.dtype)
        parts.insert(1, spacing)
    return (torch.cat(parts, dim=2 if horizontal else 1),)


def _repeat_last(image: torch.Tensor, batch: int) -> torch.Tensor:
    if image.shape[0] == batch:
        return image
    return torch.cat((image, image[-1:].repeat(batch - image.shape[0], 1, 1, 1)))


def _pad_across(
    image1: torch.Tensor, image2: torch.Tensor, horizontal: bool, value: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad the across-axis (height when side by side, width when stacked) of the smaller to the larger."""
    axis = 1 if horizontal else 2
    target = max(image1.shape[axis], image2.shape[axis])

    def pad(image: torch.Tensor) -> torch.Tensor:
        missing = target - image.shape[axis]
        if missing == 0:
            return image
        before, after = missing // 2, missing - missing // 2
        widths = (0, 0, 0, 0, before, after) if horizontal else (0, 0, before, after)
        return F.pad(image, widths, mode="constant", value=value)

    return pad(image1), pad(image2)


def rebatch_images(
    ctx: NodeContext, images: list[torch.Tensor], batch_size: list[int]
) -> tuple[list[torch.Tensor]]:
    """Every image of every batch in the list, regrouped into batches of `batch_size` (the last one may
    be smaller). Inputs come whole, as lists (the node is input_is_list); the output is a list."""
    size = batch_size[0]
    singles = [batch[i : i + 1] for batch in images for i in range(batch.shape[0])]
    groups = [singles[i : i + size] for i in range(0, len(singles), size)]
    for group in groups:
        shapes = {tuple(image.shape[1:]) for image in group}
        if len(shapes) > 1:
            listed = ", ".join(f"{w}x{h}x{c}" for h, w, c in sorted(shapes))
            raise ValueError(
                f"Input 'images': a batch of {size} would mix images of different sizes ({listed}); "
                "resize them to one size first, or use batch_size 1."
            )
    return ([torch.cat(group) for group in groups],)
