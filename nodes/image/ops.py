"""Implementations of the image nodes. IMAGE is float [B, H, W, C] in [0, 1]; MASK is [B, H, W]."""

from __future__ import annotations

import io
import math

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
        ctx.check_cancelled()  # encoding a large batch of PNGs takes a while
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


def preview_image(ctx: NodeContext, images: torch.Tensor) -> NodeResult:
    # ComfyUI writes previews to its temp folder; here they are artifacts like any other.
    return save_image(ctx, images, filename_prefix="ComfyUI_temp")


def load_image_mask(ctx: NodeContext, image: str, channel: str) -> tuple[torch.Tensor]:
    picture = ImageOps.exif_transpose(Image.open(io.BytesIO(ctx.read_file(image))))
    if picture.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16/32-bit greyscale: ComfyUI divides by 255 before the 8-bit conversion.
        scaled = np.clip(np.asarray(picture, dtype=np.float32) / 255.0, 0, 255).round()
        picture = Image.fromarray(scaled.astype(np.uint8))
    band = picture.convert("RGBA").getchannel(channel[0].upper())
    mask = torch.from_numpy(np.asarray(band, dtype=np.float32) / 255.0)
    if channel == "alpha":
        mask = 1.0 - mask  # as LoadImage: transparent pixels are the masked ones
    return (mask.unsqueeze(0),)


def resize(
    images: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled"
) -> torch.Tensor:
    """Resample [B, H, W, C] images with Pillow's filter of that name, plane by plane.

    Each channel is resampled as a float ("F") image, so precision and any channel
    count (grey, RGB, RGBA, masks) survive; "center" crops to the new aspect first.
    """
    planes = images.detach().cpu().float().numpy()
    out = np.empty((planes.shape[0], height, width, planes.shape[3]), dtype=np.float32)
    for b in range(planes.shape[0]):
        for c in range(planes.shape[3]):
            plane = Image.fromarray(np.ascontiguousarray(planes[b, :, :, c]))
            if crop == "center":
                plane = ImageOps.fit(plane, (width, height), method=PIL_FILTERS[method])
            else:
                plane = plane.resize((width, height), PIL_FILTERS[method])
            out[b, :, :, c] = np.asarray(plane)
    # Bicubic and lanczos overshoot; IMAGE stays in [0, 1].
    return torch.from_numpy(out).clamp_(0.0, 1.0)


def image_scale(
    ctx: NodeContext, image: torch.Tensor, upscale_method: str, width: int, height: int, crop: str
) -> tuple[torch.Tensor]:
    if width == 0 and height == 0:
        return (image,)
    src_h, src_w = image.shape[1], image.shape[2]
    # A zero side keeps the aspect ratio, as in ComfyUI.
    width = width or max(1, round(src_w * height / src_h))
    height = height or max(1, round(src_h * width / src_w))
    return (resize(image, width, height, upscale_method, crop),)


def image_scale_by(
    ctx: NodeContext, image: torch.Tensor, upscale_method: str, scale_by: float
) -> tuple[torch.Tensor]:
    width, height = round(image.shape[2] * scale_by), round(image.shape[1] * scale_by)
    if width < 1 or height < 1:
        raise ValueError(
            f"Input 'scale_by': {scale_by} scales the {image.shape[2]}x{image.shape[1]} image "
            f"to {width}x{height} pixels."
        )
    return (resize(image, width, height, upscale_method),)


def image_scale_to_total_pixels(
    ctx: NodeContext, image: torch.Tensor, upscale_method: str, megapixels: float
) -> tuple[torch.Tensor]:
    """Keep the aspect ratio; one megapixel is 1024 x 1024 pixels, as in ComfyUI."""
    src_h, src_w = image.shape[1], image.shape[2]
    scale = math.sqrt(megapixels * 1024 * 1024 / (src_w * src_h))
    width, height = round(src_w * scale), round(src_h * scale)
    if width < 1 or height < 1:
        raise ValueError(
            f"Input 'megapixels': {megapixels} gives the {src_w}x{src_h} image {width}x{height} pixels."
        )
    return (resize(image, width, height, upscale_method),)


def match_channels(image: torch.Tensor, channels: int, name: str) -> torch.Tensor:
    """RGB <-> RGBA so that two images can be combined: alpha is dropped or added opaque."""
    have = image.shape[-1]
    if have == channels:
        return image
    if (have, channels) == (4, 3):
        return image[..., :3]
    if (have, channels) == (3, 4):
        return torch.cat((image, torch.ones_like(image[..., :1])), dim=-1)
    raise ValueError(f"Input {name!r} has {have} channel(s); {channels} are needed here.")


def image_batch(ctx: NodeContext, image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor]:
    """image1's frames, then image2's: resized (bilinear, centre crop) to image1's size if needed."""
    channels = max(image1.shape[-1], image2.shape[-1])
    image1 = match_channels(image1, channels, "image1")
    image2 = match_channels(image2, channels, "image2")
    if image2.shape[1:3] != image1.shape[1:3]:
        image2 = resize(image2, image1.shape[2], image1.shape[1], "bilinear", crop="center")
    return (torch.cat((image1, image2.to(image1.device, image1.dtype))),)


def image_invert(ctx: NodeContext, image: torch.Tensor) -> tuple[torch.Tensor]:
    return (1.0 - image,)


def image_crop(
    ctx: NodeContext, image: torch.Tensor, width: int, height: int, x: int, y: int
) -> tuple[torch.Tensor]:
    src_h, src_w = image.shape[1], image.shape[2]
    x, y = min(x, src_w - 1), min(y, src_h - 1)
    return (image[:, y : y + height, x : x + width, :],)
