"""Post-processing image nodes: blend, blur, sharpen and colour quantisation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nodes.context import NodeContext
from nodes.image.ops import from_pil, resize, to_pil

Tensor = torch.Tensor


def _soft_light(base: Tensor, top: Tensor) -> Tensor:
    # The W3C / Photoshop soft light formula.
    lift = torch.where(base <= 0.25, ((16 * base - 12) * base + 4) * base, torch.sqrt(base))
    return torch.where(
        top <= 0.5, base - (1 - 2 * top) * base * (1 - base), base + (2 * top - 1) * (lift - base)
    )


BLEND_MODES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "normal": lambda base, top: top,
    "multiply": lambda base, top: base * top,
    "screen": lambda base, top: 1 - (1 - base) * (1 - top),
    "overlay": lambda base, top: torch.where(base <= 0.5, 2 * base * top, 1 - 2 * (1 - base) * (1 - top)),
    "soft_light": _soft_light,
    # ComfyUI's difference is signed (base - top), so it darkens to 0 rather than mirroring.
    "difference": lambda base, top: base - top,
}


def image_blend(
    ctx: NodeContext, image1: Tensor, image2: Tensor, blend_factor: float, blend_mode: str
) -> tuple[Tensor]:
    """image1 mixed with `blend_mode(image1, image2)` by `blend_factor`.

    As in ComfyUI, image2 is resized (bicubic, centre crop) to image1's size, and
    a batch of one blends with every image of the other batch.
    """
    if image1.shape[-1] != image2.shape[-1]:
        raise ValueError(
            f"Inputs 'image1' and 'image2' have {image1.shape[-1]} and {image2.shape[-1]} channels."
        )
    if image1.shape[0] != image2.shape[0] and 1 not in (image1.shape[0], image2.shape[0]):
        raise ValueError(
            f"Inputs 'image1' and 'image2' have batches of {image1.shape[0]} and {image2.shape[0]} "
            "images; they must be equal or one of them must be 1."
        )
    if image2.shape[1:3] != image1.shape[1:3]:
        image2 = resize(image2, image1.shape[2], image1.shape[1], "bicubic", crop="center")
    image2 = image2.to(image1.device, image1.dtype)
    blended = BLEND_MODES[blend_mode](image1, image2)
    return ((image1 * (1 - blend_factor) + blended * blend_factor).clamp(0.0, 1.0),)


def gaussian_weights(radius: int, sigma: float) -> Tensor:
    """1-D Gaussian over 2*radius+1 taps spanning [-1, 1], as ComfyUI scales sigma.

    ComfyUI's 2-D kernel is exp(-(x^2 + y^2) / 2 sigma^2) on that grid, which is
    the outer product of this 1-D kernel with itself: blurring separably is equal
    and much cheaper for large radii.
    """
    taps = torch.linspace(-1.0, 1.0, 2 * radius + 1)
    weights = torch.exp(-(taps**2) / (2 * sigma * sigma))
    return weights / weights.sum()


def gaussian_blur(images: Tensor, radius: int, sigma: float, name: str) -> Tensor:
    """Blur [B, H, W, C] per channel; borders are mirrored (reflect padding)."""
    height, width = images.shape[1], images.shape[2]
    if radius >= height or radius >= width:
        raise ValueError(
            f"Input {name!r}: a radius of {radius} needs an image larger than {radius}x{radius} pixels, "
            f"got {width}x{height}."
        )
    channels = images.shape[-1]
    x = images.permute(0, 3, 1, 2).float()
    weights = gaussian_weights(radius, sigma).to(x.device)
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, weights.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    x = F.conv2d(x, weights.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    return x.permute(0, 2, 3, 1)


def image_blur(ctx: NodeContext, image: Tensor, blur_radius: int, sigma: float) -> tuple[Tensor]:
    return (gaussian_blur(image, blur_radius, sigma, "blur_radius"),)


def image_sharpen(
    ctx: NodeContext, image: Tensor, sharpen_radius: int, sigma: float, alpha: float
) -> tuple[Tensor]:
    """Unsharp mask: add back `10 * alpha` times the detail the Gaussian blur removes (ComfyUI's gain)."""
    detail = image.float() - gaussian_blur(image, sharpen_radius, sigma, "sharpen_radius")
    return ((image + alpha * 10.0 * detail).clamp(0.0, 1.0),)


def bayer_matrix(order: int) -> np.ndarray:
    """The order x order Bayer threshold map, values 0 .. order^2 - 1."""
    matrix = np.zeros((1, 1), dtype=np.int64)
    while matrix.shape[0] < order:
        matrix = np.block([[4 * matrix, 4 * matrix + 2], [4 * matrix + 3, 4 * matrix + 1]])
    return matrix


def _ordered_dither(picture: Image.Image, palette: Image.Image, order: int, colors: int) -> Image.Image:
    """Offset each pixel by a tiled Bayer threshold (about one palette step), then map to the palette."""
    pixels = np.asarray(picture, dtype=np.float32)
    thresholds = (bayer_matrix(order) + 0.5) / (order * order) - 0.5
    height, width = pixels.shape[:2]
    tiled = np.tile(thresholds, (-(-height // order), -(-width // order)))[:height, :width]
    offset = tiled[..., None] * (256.0 / colors)
    dithered = np.clip(pixels + offset, 0, 255).round().astype(np.uint8)
    return Image.fromarray(dithered).quantize(palette=palette, dither=Image.Dither.NONE)


def image_quantize(ctx: NodeContext, image: Tensor, colors: int, dither: str) -> tuple[Tensor]:
    """At most `colors` colours per image: a median-cut palette, then the chosen dither."""
    if image.shape[-1] != 3:
        raise ValueError(f"Input 'image' must be RGB (3 channels), got {image.shape[-1]}.")
    out = []
    for frame in image.detach().cpu():
        ctx.check_cancelled()
        picture = to_pil(frame)
        palette = picture.quantize(colors=colors)
        if dither.startswith("bayer-"):
            quantized = _ordered_dither(picture, palette, int(dither.split("-")[1]), colors)
        else:
            mode = Image.Dither.FLOYDSTEINBERG if dither == "floyd-steinberg" else Image.Dither.NONE
            quantized = picture.quantize(palette=palette, dither=mode)
        out.append(from_pil(quantized))
    return (torch.stack(out),)
