"""UNETLoader, CLIPLoader, DualCLIPLoader and TripleCLIPLoader: ComfyUI's split model loading."""

from __future__ import annotations

from typing import Any

from nodes.context import NodeContext
from nodes.diffusion.handles import ClipHandle, ModelHandle
from nodes.loaders.families import DIFFUSION_MODEL_LOADERS, TEXT_ENCODER_LOADERS, loader_for
from nodes.loaders.recipes import build_clip
from nodes.model_family import model_family


def unet_loader(ctx: NodeContext, unet_name: str, weight_dtype: str = "default") -> tuple[ModelHandle]:
    path = ctx.model_path("diffusion_models", unet_name)
    load = loader_for(DIFFUSION_MODEL_LOADERS, model_family(path), f"Diffusion model {unet_name!r}")
    key = ("diffusion_model", str(path), ctx.device, weight_dtype)
    return (ctx.models.get(key, lambda: load(path, ctx.device, weight_dtype)),)


def text_encoder_device(ctx: NodeContext, device: str) -> str:
    """Where text encoders run: the node's `device` ("cpu"), else the worker's TEXT_ENCODER_DEVICE."""
    if device not in ("default", "cpu"):
        raise ValueError(f"device must be 'default' or 'cpu', got {device!r}.")
    if device == "cpu":
        return "cpu"
    return "cpu" if ctx.text_encoder_device == "cpu" else ctx.device


def _load_encoder(ctx: NodeContext, input_name: str, name: str, device: str) -> tuple[str, str, Any]:
    path = ctx.model_path("text_encoders", name)
    family = model_family(path)
    load = loader_for(TEXT_ENCODER_LOADERS, family, f"{input_name} {name!r}")
    return input_name, family, ctx.models.get(("text_encoder", str(path), device), lambda: load(path, device))


def _clip(ctx: NodeContext, clip_type: str, names: dict[str, str], device: str) -> tuple[ClipHandle]:
    where = text_encoder_device(ctx, device)
    encoders = [_load_encoder(ctx, input_name, name, where) for input_name, name in names.items()]
    return (build_clip(clip_type, encoders),)


def clip_loader(ctx: NodeContext, clip_name: str, type: str, device: str = "default") -> tuple[ClipHandle]:
    return _clip(ctx, type, {"clip_name": clip_name}, device)


def dual_clip_loader(
    ctx: NodeContext, clip_name1: str, clip_name2: str, type: str, device: str = "default"
) -> tuple[ClipHandle]:
    return _clip(ctx, type, {"clip_name1": clip_name1, "clip_name2": clip_name2}, device)


def triple_clip_loader(
    ctx: NodeContext, clip_name1: str, clip_name2: str, clip_name3: str
) -> tuple[ClipHandle]:
    names = {"clip_name1": clip_name1, "clip_name2": clip_name2, "clip_name3": clip_name3}
    return _clip(ctx, "sd3", names, "default")
