"""Wan 2.1's video nodes: the empty video latent and image-to-video conditioning (ComfyUI's behaviour).

A Wan latent is (batch, 16, 1 + (length - 1) // 4, height / 8, width / 8): the VAE keeps the first frame
and folds each following 4 frames into one latent frame. WanImageToVideo encodes the start image's
frames followed by grey frames for the rest of the clip, and puts that latent and a mask (0 on the latent
frames the given images cover, 1 on those to generate) into both conditionings, where an image-to-video
model reads them as extra input channels (call.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from nodes.context import NodeContext
from nodes.diffusion.handles import VaeHandle

LATENT_CHANNELS = 16
DOWNSCALE = 8
Conditioning = list[list[Any]]


def latent_frames(length: int) -> int:
    return (length - 1) // 4 + 1


def _empty(width: int, height: int, length: int, batch_size: int) -> torch.Tensor:
    return torch.zeros(
        batch_size, LATENT_CHANNELS, latent_frames(length), height // DOWNSCALE, width // DOWNSCALE
    )


def empty_hunyuan_latent_video(
    ctx: NodeContext, width: int, height: int, length: int, batch_size: int = 1
) -> tuple[dict[str, Any]]:
    return ({"samples": _empty(width, height, length, batch_size)},)


def resize_center(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """IMAGE frames cropped about the centre to width:height, then resized bilinearly (ComfyUI's 'center')."""
    _, h, w, _ = images.shape
    x = images.permute(0, 3, 1, 2).float()
    if w * height > h * width:  # too wide: crop the sides
        keep = round(h * width / height)
        x = x[..., (w - keep) // 2 : (w - keep) // 2 + keep]
    elif w * height < h * width:
        keep = round(w * height / width)
        x = x[..., (h - keep) // 2 : (h - keep) // 2 + keep, :]
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x.permute(0, 2, 3, 1)


def _with(conditioning: Conditioning, values: dict[str, Any]) -> Conditioning:
    return [[embeddings, {**extras, **values}] for embeddings, extras in conditioning]


def wan_image_to_video(
    ctx: NodeContext,
    positive: Conditioning,
    negative: Conditioning,
    vae: VaeHandle,
    width: int,
    height: int,
    length: int,
    batch_size: int = 1,
    clip_vision_output: Any = None,
    start_image: torch.Tensor | None = None,
) -> tuple[Conditioning, Conditioning, dict[str, Any]]:
    latent = _empty(width, height, length, batch_size)
    values: dict[str, Any] = {}
    if start_image is not None:
        if not hasattr(vae, "encode_frames"):
            raise ValueError(
                "WanImageToVideo needs Wan 2.1's video VAE (vae/wan_2.1_vae.safetensors) to encode "
                "start_image."
            )
        given = resize_center(start_image[:length], width, height)
        frames = torch.full((length, height, width, 3), 0.5)
        frames[: given.shape[0]] = given[..., :3]
        concat = vae.encode_frames(frames, ctx.device)
        mask = torch.ones(1, 1, latent.shape[2], concat.shape[-2], concat.shape[-1])
        mask[:, :, : latent_frames(given.shape[0])] = 0.0
        values = {"concat_latent_image": concat, "concat_mask": mask}
    if clip_vision_output is not None:
        values["clip_vision_output"] = clip_vision_output
    return _with(positive, values), _with(negative, values), {"samples": latent}
