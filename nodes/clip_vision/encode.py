"""CLIPVisionLoader and CLIPVisionEncode, with CLIP's preprocessing written in torch.

The preprocessing follows ComfyUI's: an image already at the tower's size goes in as it is;
otherwise it is resized with antialiased bicubic interpolation, for crop "center" so its shorter
side fits and the middle square is kept, for crop "none" straight to a square (aspect not kept).
Pixels are then rounded to 8 bits and normalised with CLIP's mean and std. (transformers'
CLIPImageProcessor would need torchvision here, and resizes with PIL.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nodes.clip_vision.handles import CLIP_MEAN, CLIP_STD, ClipVisionHandle, ClipVisionOutput
from nodes.clip_vision.loading import load_clip_vision
from nodes.context import NodeContext

CROPS = ("center", "none")


def clip_vision_loader(ctx: NodeContext, clip_name: str) -> tuple[ClipVisionHandle]:
    path = ctx.model_path("clip_vision", clip_name)
    return (
        ctx.models.get(("clip_vision", str(path), ctx.device), lambda: load_clip_vision(path, ctx.device)),
    )


def preprocess(image: torch.Tensor, size: int, crop: str = "center") -> torch.Tensor:
    """IMAGE [batch, height, width, channels] in 0..1 -> normalised pixels [batch, 3, size, size]."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}.")
    if image.dim() != 4 or image.shape[-1] < 3:
        raise ValueError(f"image must be an IMAGE batch [batch, height, width, 3], got {tuple(image.shape)}.")
    pixels = image[..., :3].movedim(-1, 1).float()
    height, width = pixels.shape[-2:]
    if (height, width) != (size, size):
        if crop == "center":
            scale = size / min(height, width)
            target = (round(scale * height), round(scale * width))
        else:
            target = (size, size)
        pixels = F.interpolate(pixels, size=target, mode="bicubic", antialias=True)
        top, left = (pixels.shape[-2] - size) // 2, (pixels.shape[-1] - size) // 2
        pixels = pixels[:, :, top : top + size, left : left + size]
    pixels = (pixels * 255.0).clamp(0, 255).round() / 255.0
    mean = torch.tensor(CLIP_MEAN, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - mean) / std


@torch.inference_mode()
def encode_image(
    clip_vision: ClipVisionHandle, image: torch.Tensor, crop: str, device: str
) -> ClipVisionOutput:
    model = clip_vision.model
    pixels = preprocess(image.to(device), clip_vision.image_size, crop).to(model.dtype)
    out = model(pixel_values=pixels, output_hidden_states=True)
    return ClipVisionOutput(
        image_embeds=out.image_embeds.float().cpu(),
        last_hidden_state=out.last_hidden_state.float().cpu(),
        penultimate_hidden_states=out.hidden_states[-2].float().cpu(),
    )


def clip_vision_encode(
    ctx: NodeContext, clip_vision: ClipVisionHandle, image: torch.Tensor, crop: str = "center"
) -> tuple[ClipVisionOutput]:
    return (encode_image(clip_vision, image, crop, ctx.device),)
