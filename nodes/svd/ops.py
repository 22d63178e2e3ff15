"""ImageOnlyCheckpointLoader and SVD_img2vid_Conditioning (the guidance patches are in guidance.py).

SVD_img2vid_Conditioning, as ComfyUI conditions SVD: the init image's CLIP image embedding (the
checkpoint's own tower, centre crop) is the positive side's context, zeros the negative's; the init
image, resized to width x height (centre crop, bilinear), optionally noised by `augmentation_level`
(Gaussian noise times the level, on pixels in [0, 1]), is encoded by the VAE (the posterior's mode,
unscaled: SVD concatenates the raw latent) as ``concat_latent_image`` (zeros on the negative side);
both sides carry fps, motion_bucket_id and augmentation_level for the added time ids (call.py).
The LATENT is `video_frames` zero latents of width/8 x height/8: KSampler adds the noise. The
augmentation noise is seeded with AUGMENTATION_SEED so runs repeat (ComfyUI draws it from torch's
global generator, so with augmentation > 0 frames differ from ComfyUI's in detail).
"""

from __future__ import annotations

from typing import Any

import torch

from nodes.clip_vision.encode import encode_image
from nodes.clip_vision.handles import ClipVisionHandle
from nodes.context import NodeContext
from nodes.diffusion.handles import ModelHandle, VaeHandle
from nodes.latent.resize import resize_latent
from nodes.svd.handles import SvdCheckpoint

Conditioning = list[list[Any]]
AUGMENTATION_SEED = 0
LATENT_CHANNELS = 4


def image_only_checkpoint_loader(
    ctx: NodeContext, ckpt_name: str
) -> tuple[ModelHandle, ClipVisionHandle, VaeHandle]:
    from nodes.svd.loading import load_svd_checkpoint

    path = ctx.model_path("checkpoints", ckpt_name)
    checkpoint: SvdCheckpoint = ctx.models.get(
        ("svd_checkpoint", str(path), ctx.device), lambda: load_svd_checkpoint(path, ctx.device)
    )
    return checkpoint.model, checkpoint.clip_vision, checkpoint.vae


@torch.inference_mode()
def encode_init_image(
    ctx: NodeContext, vae: VaeHandle, image: torch.Tensor, width: int, height: int, augmentation: float
) -> torch.Tensor:
    """The init image's raw VAE latent [batch, 4, height/8, width/8] (float32, CPU)."""
    pixels = resize_latent(image[..., :3].movedim(-1, 1).float(), width, height, "bilinear", "center")
    if augmentation > 0:
        generator = torch.Generator("cpu").manual_seed(AUGMENTATION_SEED)
        pixels = pixels + torch.randn(pixels.shape, generator=generator) * augmentation
    x = (pixels * 2.0 - 1.0).to(ctx.device, vae.vae.dtype)
    return vae.vae.encode(x).latent_dist.mode().float().cpu()


def svd_img2vid_conditioning(
    ctx: NodeContext,
    clip_vision: ClipVisionHandle,
    init_image: torch.Tensor,
    vae: VaeHandle,
    width: int,
    height: int,
    video_frames: int,
    motion_bucket_id: int,
    fps: int,
    augmentation_level: float,
) -> tuple[Conditioning, Conditioning, dict[str, Any]]:
    if init_image.dim() != 4 or init_image.shape[-1] < 3:
        raise ValueError(
            f"init_image must be an IMAGE batch [batch, height, width, 3], got {tuple(init_image.shape)}."
        )
    # Any SD-style VAE encodes here (SVD's encoder is SD's), as in ComfyUI; the UNet checks the channels.
    embeds = encode_image(clip_vision, init_image, "center", ctx.device).image_embeds
    pooled = embeds.unsqueeze(0)  # [1, images, width]: the image embedding(s) as context tokens
    latent = encode_init_image(ctx, vae, init_image, width, height, augmentation_level)
    ids = {"motion_bucket_id": motion_bucket_id, "fps": fps, "augmentation_level": augmentation_level}
    positive = [[pooled, {**ids, "concat_latent_image": latent}]]
    negative = [[torch.zeros_like(pooled), {**ids, "concat_latent_image": torch.zeros_like(latent)}]]
    samples = torch.zeros(video_frames, LATENT_CHANNELS, height // 8, width // 8)
    return positive, negative, {"samples": samples}
