"""Implementations of the LoRA loaders: a new MODEL / CLIP handle that carries the LoRA as a patch.

Nothing is merged here: the cached base weights stay as loaded, and the sampler and text encoder apply
the handle's patches around each use (nodes/diffusion/patching.py). So only the LoRA file is loaded,
never the checkpoint again, whatever the strengths.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TypeVar

from nodes.context import NodeContext
from nodes.diffusion.handles import ClipHandle, ModelHandle
from nodes.lora.weights import LoraPatch, LoraWeights, load_lora

log = logging.getLogger(__name__)
H = TypeVar("H", ModelHandle, ClipHandle)


def lora_loader(
    ctx: NodeContext,
    model: ModelHandle,
    clip: ClipHandle,
    lora_name: str,
    strength_model: float,
    strength_clip: float,
) -> tuple[ModelHandle, ClipHandle]:
    if strength_model == 0 and strength_clip == 0:
        return model, clip  # as ComfyUI: the file is not even read
    lora = _load(ctx, lora_name)
    encoders = {"text_encoder": clip.text_encoder, "text_encoder_2": clip.text_encoder_2}
    unet_hits = lora.resolve(model.unet, "unet")
    clip_hits = [hit for role, enc in encoders.items() if enc is not None for hit in lora.resolve(enc, role)]
    if not unet_hits and not clip_hits:
        raise _matches_nothing(lora, "UNet and text encoder")
    absent = sorted(role for role in lora.roles() if role in encoders and encoders[role] is None)
    if absent:
        log.warning("LoRA %s: this CLIP has no %s; those keys are skipped", lora_name, ", ".join(absent))
    return (
        _with_patch(model, lora, strength_model) if unet_hits else model,
        _with_patch(clip, lora, strength_clip) if clip_hits else clip,
    )


def lora_loader_model_only(
    ctx: NodeContext, model: ModelHandle, lora_name: str, strength_model: float
) -> tuple[ModelHandle]:
    if strength_model == 0:
        return (model,)
    lora = _load(ctx, lora_name)
    if not lora.resolve(model.unet, "unet"):
        raise _matches_nothing(lora, "UNet")
    return (_with_patch(model, lora, strength_model),)


def _load(ctx: NodeContext, lora_name: str) -> LoraWeights:
    path = ctx.model_path("loras", lora_name)
    return ctx.models.get(("lora", str(path), ctx.device), lambda: load_lora(path, lora_name, ctx.device))


def _with_patch(handle: H, lora: LoraWeights, strength: float) -> H:
    """A new handle over the same cached modules; strength 0 leaves the handle as it is."""
    if strength == 0:
        return handle
    return dataclasses.replace(handle, patches=(*handle.patches, LoraPatch(lora, strength)))


def _matches_nothing(lora: LoraWeights, parts: str) -> ValueError:
    return ValueError(
        f"LoRA {lora.name!r} matches no weights of this model: none of its layers "
        f"(e.g. {lora.layers[0].key!r}) is in this checkpoint's {parts}. Is it made for another model family?"
    )
