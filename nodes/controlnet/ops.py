"""Implementations of the ControlNet nodes (torch and diffusers are imported here only)."""

from __future__ import annotations

from typing import Any

import torch

from nodes.context import NodeContext
from nodes.controlnet.control import Control, ControlNetHandle
from nodes.controlnet.loading import load_controlnet

Conditioning = list[list[Any]]


def controlnet_loader(ctx: NodeContext, control_net_name: str) -> tuple[ControlNetHandle]:
    path = ctx.model_path("controlnet", control_net_name)
    return (ctx.models.get(("controlnet", str(path), ctx.device), lambda: load_controlnet(path, ctx.device)),)


def controlnet_apply(
    ctx: NodeContext,
    conditioning: Conditioning,
    control_net: ControlNetHandle,
    image: torch.Tensor,
    strength: float,
) -> tuple[Conditioning]:
    """Attach the ControlNet to every entry of one conditioning, for all of sampling.

    As in ComfyUI, the entries are marked ``control_apply_to_uncond``: ComfyUI then also runs this
    control for negative entries of the same area that have none (guidance.py decides whether to).
    """
    if strength == 0:
        return (conditioning,)
    hint = _hint(control_net, image)
    out = []
    for embeddings, extras in conditioning:
        control = Control(
            control_net.model, hint, strength, previous=extras.get("control"), name=control_net.name
        )
        out.append([embeddings, {**extras, "control": control, "control_apply_to_uncond": True}])
    return (out,)


def controlnet_apply_advanced(
    ctx: NodeContext,
    positive: Conditioning,
    negative: Conditioning,
    control_net: ControlNetHandle,
    image: torch.Tensor,
    strength: float,
    start_percent: float,
    end_percent: float,
    vae: Any = None,
) -> tuple[Conditioning, Conditioning]:
    """Attach the ControlNet to the positive and the negative conditioning, between the two percents.

    Entries that carried the same earlier control (or none) get one shared new control, so guidance
    can still run the positive and negative rows as one batch. `vae` is for ControlNets whose hint is
    a latent (not SD 1.x ones): accepted, as in ComfyUI, and unused.
    """
    if strength == 0:
        return positive, negative
    hint = _hint(control_net, image)
    made: dict[int, Control] = {}  # id(previous control) -> the control that follows it

    def attach(conditioning: Conditioning) -> Conditioning:
        out = []
        for embeddings, extras in conditioning:
            previous = extras.get("control")
            control = made.get(id(previous))
            if control is None:
                control = Control(
                    control_net.model, hint, strength, start_percent, end_percent, previous, control_net.name
                )
                made[id(previous)] = control
            out.append([embeddings, {**extras, "control": control, "control_apply_to_uncond": False}])
        return out

    return attach(positive), attach(negative)


def _hint(control_net: ControlNetHandle, image: torch.Tensor) -> torch.Tensor:
    """ComfyUI's IMAGE [B, H, W, C] (0..1) as the ControlNet's [B, C, H, W] conditioning image."""
    if image.dim() != 4:
        raise ValueError(
            f"ControlNet image must be an IMAGE batch [B, H, W, C], got shape {tuple(image.shape)}."
        )
    channels = int(control_net.model.config.conditioning_channels)
    if image.shape[-1] != channels:
        raise ValueError(
            f"ControlNet {control_net.name!r} takes images with {channels} channels, got {image.shape[-1]}."
        )
    return image.detach().float().movedim(-1, 1).contiguous()
