"""Implementations of the image nodes. IMAGE is float [B, H, W, C] in [0, 1]; MASK is [B, H, W]."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageOps

from nodes.context import NodeContext
from nodes.schema import NodeResult

PIL_FILTERS = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def to_pil(image: torch.Tensor) -> Image.Image:
    array = (image.clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def from_pil(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)


def save_image(ctx: NodeContext, images: torch.Tensor, filename_prefix: str = "ComfyUI") -> NodeResult:
    saved = []
    for image in images:
        buffer = io.BytesIO()
        to_pil(image).save(buffer, format="PNG", compress_level=4)
        saved.append(
            ctx.save_image(
                buffer.getvalue(), width=image.shape[1], height=image.shape[0], prefix=filename_prefix
            )
        )
    return NodeResult(ui={"images": saved})


def load_image(ctx: NodeContext, image: str) -> tuple[torch.Tensor, torch.Tensor]:
    picture = ImageOps.exif_transpose(Image.open(io.BytesIO(ctx.read_file(image))))
    pixels = from_pil(picture)
    if "A" in picture.getbands():
        alpha = torch.from_numpy(np.asarray(picture.getchannel("A"), dtype=np.float32) / 255.0)
        mask = 1.0 - alpha  # ComfyUI: transparent pixels are the masked ones
    else:
        mask = torch.zeros((64, 64), dtype=torch.float32)
    return pixels.unsqueeze(0), mask.unsqueeze(0)


def image_scale(
    ctx: NodeContext, image: torch.Tensor, upscale_method: str, width: int, height: int, crop: str
) -> tuple[torch.Tensor]:
    if width == 0 and height == 0:
        return (image,)
    src_h, src_w = image.shape[1], image.shape[2]
    # A zero side keeps the aspect ratio, as in ComfyUI.
    width = width or max(1, round(src_w * height / src_h))
    height = height or max(1, round(src_h * width / src_w))
    out = []
    for frame in image:
        picture = to_pil(frame)
        if crop == "center":
            picture = ImageOps.fit(picture, (width, height), method=PIL_FILTERS[upscale_method])
        else:
            picture = picture.resize((width, height), PIL_FILTERS[upscale_method])
        out.append(from_pil(picture))
    return (torch.stack(out),)


def image_invert(ctx: NodeContext, image: torch.Tensor) -> tuple[torch.Tensor]:
    return (1.0 - image,)


def image_crop(
    ctx: NodeContext, image: torch.Tensor, width: int, height: int, x: int, y: int
) -> tuple[torch.Tensor]:
    src_h, src_w = image.shape[1], image.shape[2]
    x, y = min(x, src_w - 1), min(y, src_h - 1)
    return (image[:, y : y + height, x : x + width, :],)
