"""unCLIP: unCLIPCheckpointLoader, unCLIPConditioning, and the image embedding the UNet is given.

An SD 2.1 unCLIP checkpoint (``sd21-unclip-h``/``-l``) is an SD 2.x checkpoint whose UNet takes
one more input, class labels (``label_emb``), and which carries the CLIP image tower it was trained
with (``embedder.model.visual.*``) and its noise augmentor's statistics (``noise_augmentor.*``).
unCLIPConditioning adds ``{"clip_vision_output", "strength", "noise_augmentation"}`` to each
conditioning entry's ``"unclip_conditioning"`` list; at sampling time each image embedding is
normalised with the augmentor's data mean and std, noised to level
``round(999 * noise_augmentation)`` of the augmentor's own schedule (squared-cosine), un-normalised,
joined with a sinusoidal embedding of that level and scaled by the strength; several images are
summed, then their summed embedding is noised again at level 0, as ComfyUI does. An entry without
images (the usual negative prompt) gives zeros. This is the ``image_embeds`` + ``noise_level``
conditioning of diffusers' StableUnCLIPImg2ImgPipeline. The noise is seeded with 0: ComfyUI seeds
it from the sampler's seed, so with noise_augmentation > 0 images differ from ComfyUI's in detail.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodes.clip_vision.handles import ClipVisionHandle, ClipVisionOutput
from nodes.context import NodeContext
from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle, VaeHandle

Conditioning = list[list[Any]]
MAX_NOISE_LEVEL = 1000
NOISE_SEED = 0


def squared_cosine_alphas(steps: int = MAX_NOISE_LEVEL) -> torch.Tensor:
    """Cumulative alphas of the squared-cosine schedule (Nichol & Dhariwal 2021, betas capped at 0.999)."""

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999) for i in range(steps)]
    return torch.cumprod(1.0 - torch.tensor(betas, dtype=torch.float64), dim=0)


@dataclass(frozen=True)
class ImageNoiseAugmentor:
    """The unCLIP UNet's class labels from unCLIPConditioning's images (the module docstring)."""

    mean: torch.Tensor  # [1, width]
    std: torch.Tensor  # [1, width]
    alphas_cumprod: torch.Tensor  # [MAX_NOISE_LEVEL], float64

    @property
    def width(self) -> int:
        return int(self.mean.shape[-1])

    def augment(self, embeds: torch.Tensor, level: int, generator: torch.Generator) -> torch.Tensor:
        """[n, width] embeddings noised to `level`, joined with the level's embedding: [n, 2 * width]."""
        from diffusers.models.embeddings import get_timestep_embedding

        alpha = float(self.alphas_cumprod[level])
        noise = torch.randn(embeds.shape, generator=generator, dtype=torch.float32)
        scaled = (embeds.float() - self.mean) / self.std
        noised = (math.sqrt(alpha) * scaled + math.sqrt(1.0 - alpha) * noise) * self.std + self.mean
        levels = torch.full((embeds.shape[0],), level, dtype=torch.float32)
        # [cos, sin] halves, as the original Timestep embedder orders them.
        level_embedding = get_timestep_embedding(
            levels, self.width, flip_sin_to_cos=True, downscale_freq_shift=0
        )
        return torch.cat([noised, level_embedding], dim=1)

    def adm(self, extras: dict[str, Any]) -> torch.Tensor | None:
        """[1, 2 * width] for the entry's images, or None when it has none."""
        generator = torch.Generator("cpu").manual_seed(NOISE_SEED)
        parts = []
        for item in extras.get("unclip_conditioning") or ():
            embeds = item["clip_vision_output"].image_embeds
            if embeds.shape[-1] != self.width:
                raise ValueError(
                    f"This unCLIP model takes image embeddings of width {self.width}, the CLIP vision output "
                    f"has {embeds.shape[-1]}: encode the image with the checkpoint's own CLIP_VISION "
                    "(unCLIPCheckpointLoader's fourth output)."
                )
            level = round((MAX_NOISE_LEVEL - 1) * float(item["noise_augmentation"]))
            for row in embeds:
                parts.append(self.augment(row[None], level, generator) * float(item["strength"]))
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        summed = torch.stack(parts).sum(0)
        return self.augment(summed[:, : self.width], 0, generator)

    def class_labels(self, extras: dict[str, Any], *, batch: int, dtype: torch.dtype) -> torch.Tensor:
        adm = self.adm(extras)
        if adm is None:
            adm = torch.zeros(1, 2 * self.width)
        return adm.to(dtype).expand(batch, -1)


def image_pooled(extras: dict[str, Any], width: int) -> torch.Tensor | None:
    """SDXL's "revision": unCLIPConditioning's images in place of the pooled text (their embeddings,
    noised by a schedule with no data statistics, first `width` columns), or None without images."""
    if not extras.get("unclip_conditioning"):
        return None
    plain = ImageNoiseAugmentor(torch.zeros(1, width), torch.ones(1, width), squared_cosine_alphas())
    adm = plain.adm(extras)
    return None if adm is None else adm[:, :width]


def augmentor_from_state(path: Path, state: dict[str, Any]) -> ImageNoiseAugmentor:
    mean, std = state.get("noise_augmentor.data_mean"), state.get("noise_augmentor.data_std")
    if mean is None or std is None:
        raise ValueError(f"unCLIP checkpoint {path.name!r} has no noise_augmentor.data_mean/data_std.")
    stored = state.get("noise_augmentor.alphas_cumprod")
    alphas = stored.double() if stored is not None else squared_cosine_alphas()
    return ImageNoiseAugmentor(
        mean=mean.float().reshape(1, -1), std=std.float().reshape(1, -1), alphas_cumprod=alphas
    )


def attach_unclip(path: Path, checkpoint: Checkpoint, state: dict[str, Any], device: str) -> Checkpoint:
    """The checkpoint's UNet handle with its image conditioner, and its CLIP vision tower in extras."""
    from nodes.clip_vision.loading import clip_vision_from_state

    augmentor = augmentor_from_state(path, state)
    expected = checkpoint.model.unet.config.projection_class_embeddings_input_dim
    if checkpoint.model.unet.config.class_embed_type != "projection" or expected != 2 * augmentor.width:
        raise ValueError(
            f"unCLIP checkpoint {path.name!r}: its UNet takes {expected}-wide class labels, its noise "
            f"augmentor is {augmentor.width} wide (twice that expected)."
        )
    config_file = path.with_suffix(".config") / "clip_vision" / "config.json"
    vision = clip_vision_from_state(path, state, device, config_file=config_file)
    model = dataclasses.replace(checkpoint.model, image_conditioner=augmentor)
    return dataclasses.replace(checkpoint, model=model, extras={**checkpoint.extras, "clip_vision": vision})


def unclip_checkpoint_loader(
    ctx: NodeContext, ckpt_name: str
) -> tuple[ModelHandle, ClipHandle, VaeHandle, ClipVisionHandle]:
    from nodes.diffusion.loading import load_checkpoint

    # The same cache entry as CheckpointLoaderSimple's: one copy of the model whichever node loads it.
    path = ctx.model_path("checkpoints", ckpt_name)
    checkpoint = ctx.models.get(
        ("checkpoint", str(path), ctx.device), lambda: load_checkpoint(path, ctx.device)
    )
    vision = checkpoint.extras.get("clip_vision")
    if vision is None:
        raise ValueError(
            f"ckpt_name {ckpt_name!r} is not an unCLIP checkpoint (no embedder.model.visual.* image tower): "
            "load it with CheckpointLoaderSimple, or pick an unCLIP checkpoint such as sd21-unclip-h."
        )
    return checkpoint.model, checkpoint.clip, checkpoint.vae, vision


def unclip_conditioning(
    ctx: NodeContext,
    conditioning: Conditioning,
    clip_vision_output: ClipVisionOutput,
    strength: float,
    noise_augmentation: float,
) -> tuple[Conditioning]:
    if strength == 0:
        return (conditioning,)  # nothing to add, as in ComfyUI
    item = {
        "clip_vision_output": clip_vision_output,
        "strength": strength,
        "noise_augmentation": noise_augmentation,
    }
    out = [
        [embeddings, {**extras, "unclip_conditioning": [*extras.get("unclip_conditioning", ()), item]}]
        for embeddings, extras in conditioning
    ]
    return (out,)
