"""SVD's network call: the frames of the LATENT batch as one video, the init image's latent beside each.

As ComfyUI runs SVD, a LATENT of F frames is a batch of F latents; the sampler and guidance see it so.
Here each conditioning entry's F rows become one video for diffusers' UNetSpatioTemporalConditionModel
([videos, frames, channels, h, w]): the noisy latent concatenated on channels with the entry's
``concat_latent_image`` (the VAE latent of the init image, unscaled, as SVD was trained), the CLIP
image embedding as the cross-attention context, and the added time ids (fps - 1, motion bucket,
augmentation level) that the UNet embeds with 256 sinusoidal channels each. The timestep is the EDM
one the model sampling gives (0.25 * ln sigma). The output (v) comes back as F rows, float32.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

DEFAULT_FPS = 6
DEFAULT_MOTION_BUCKET = 127


def time_ids(extras: dict[str, Any]) -> list[float]:
    """SVD's added time ids, as it was trained: the frame rate minus one, the motion bucket, the
    augmentation level (ComfyUI's defaults when a conditioning does not set them)."""
    return [
        float(extras.get("fps", DEFAULT_FPS)) - 1.0,
        float(extras.get("motion_bucket_id", DEFAULT_MOTION_BUCKET)),
        float(extras.get("augmentation_level", 0.0)),
    ]


def frames_of(latent: torch.Tensor, frames: int) -> torch.Tensor:
    """`latent` [k, c, h, w] as `frames` rows: itself, one row repeated, or rows picked evenly."""
    if latent.shape[0] == frames:
        return latent
    if latent.shape[0] == 1:
        return latent.expand(frames, -1, -1, -1)
    index = torch.linspace(0, latent.shape[0] - 1, frames).round().long()
    return latent[index]


def svd_kwargs(
    model: Any, extras: dict[str, Any], *, batch: int, latent_hw: tuple[int, ...]
) -> dict[str, Any]:
    """One entry's inputs for `batch` rows (the video's frames); the call splits them into videos."""
    unet = model.unet
    width = int(unet.config.projection_class_embeddings_input_dim) // int(unet.config.addition_time_embed_dim)
    ids = time_ids(extras)
    if len(ids) != width:
        raise ValueError(f"This SVD UNet takes {width} added time ids, SVD conditioning gives {len(ids)}.")
    channels = int(unet.config.in_channels) - int(unet.config.out_channels)
    latent = extras.get("concat_latent_image")
    if latent is None:  # ComfyUI's default: no image, a zero latent
        latent = torch.zeros(1, channels, *latent_hw[-2:])
    if latent.dim() != 4 or latent.shape[1] != channels:
        raise ValueError(
            f"SVD's concat_latent_image must be a [frames, {channels}, h, w] latent, "
            f"got {tuple(latent.shape)}."
        )
    latent = latent.detach().to("cpu", torch.float32)
    if tuple(latent.shape[-2:]) != tuple(latent_hw[-2:]):
        latent = F.interpolate(latent, size=tuple(latent_hw[-2:]), mode="bilinear", align_corners=False)
    return {
        "image_latents": frames_of(latent, batch).contiguous(),
        "added_time_ids": torch.tensor([ids], dtype=torch.float32).expand(batch, -1).contiguous(),
        # How many rows make one video: the call cannot tell the entries' rows apart otherwise.
        "video_frames": torch.full((batch,), batch, dtype=torch.long),
    }


def svd_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    unet = model.unet
    dtype = unet.dtype
    frames = int(kwargs["video_frames"][0])
    rows, channels, h, w = x.shape
    if rows % frames:
        raise ValueError(f"SVD got {rows} latent rows, not a whole number of {frames}-frame videos.")
    videos = rows // frames
    image = kwargs["image_latents"].to(x.device, torch.float32)
    if tuple(image.shape[-2:]) != (h, w):  # an entry cropped to an area: the image follows it
        image = F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False)
    sample = torch.cat([x.float(), image], dim=1).reshape(videos, frames, -1, h, w)
    timestep = torch.as_tensor(t, device=x.device, dtype=torch.float32).reshape(-1)[:1].expand(videos)
    out = unet(
        sample.to(dtype),
        timestep,
        encoder_hidden_states=context[::frames].to(x.device, dtype),
        added_time_ids=kwargs["added_time_ids"][::frames].to(x.device, dtype),
        return_dict=False,
    )[0]
    return out.reshape(rows, channels, h, w).float()
