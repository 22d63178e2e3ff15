"""Wan 2.1's network call on a 5-D video latent (B, 16, T, H, W).

The sampler gives `t` = sigma * 1000 (ModelSampling.flow with SD3's shift, as ComfyUI's ModelSamplingSD3
sets for Wan); diffusers' WanTransformer3DModel embeds that timestep as the reference does. The output is
the velocity (noise - x0), float32. An image-to-video model takes 36 channels: the noisy latent, then
WanImageToVideo's 4-channel mask (1 where a frame is given) and the start image's latent (wan_kwargs).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def wan_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    transformer = model.unet
    dtype = transformer.dtype
    b, _, frames, h, w = x.shape
    concat = kwargs.get("concat")
    if concat is not None:
        x = torch.cat([x, concat.to(x.device, x.dtype)], dim=1)
    _, ph, pw = transformer.config.patch_size
    # A latent side that is not a multiple of the patch is padded (wrapping around) and cropped back.
    pad_h, pad_w = (-h) % ph, (-w) % pw
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h, 0, 0), mode="replicate")
    timestep = torch.as_tensor(t, device=x.device, dtype=torch.float32).reshape(-1).expand(b)
    image = kwargs.get("image_embeds")
    out = transformer(
        hidden_states=x.to(dtype),
        timestep=timestep,
        encoder_hidden_states=context.to(x.device, dtype),
        encoder_hidden_states_image=None if image is None else image.to(x.device, dtype),
        return_dict=False,
    )[0]
    return out.float()[:, :, :frames, :h, :w]


def wan_kwargs(model: Any, extras: dict[str, Any], *, batch: int) -> dict[str, Any]:
    """An image-to-video model's concat channels (and CLIP vision tokens) from one conditioning entry."""
    config = model.unet.config
    extra = int(config.in_channels) - int(config.out_channels)
    out: dict[str, Any] = {}
    if extra > 0:
        image = extras.get("concat_latent_image")
        mask = extras.get("concat_mask")
        if image is None or mask is None:
            raise ValueError(
                "This Wan model is an image-to-video model: its conditionings need WanImageToVideo's "
                "start image (connect positive and negative through WanImageToVideo)."
            )
        # concat_mask is 0 where a frame is given; the model takes 1 there, on 4 channels.
        given = (1.0 - mask.float().mean(dim=1, keepdim=True)).expand(-1, 4, -1, -1, -1)
        concat = torch.cat([given, image.float()], dim=1)
        if concat.shape[1] != extra:
            raise ValueError(
                f"This Wan model takes {extra} concat channels, the conditioning has {concat.shape[1]}."
            )
        out["concat"] = concat[torch.arange(batch) % concat.shape[0]]
    if config.image_dim is not None:
        embeds = extras.get("clip_vision_output")
        if embeds is None:
            raise ValueError(
                "This Wan image-to-video model needs a CLIP vision output (CLIPVisionEncode of the start "
                "image) in WanImageToVideo's clip_vision_output."
            )
        hidden = _penultimate(embeds)
        out["image_embeds"] = hidden.float()[torch.arange(batch) % hidden.shape[0]]
    return out


def _penultimate(output: Any) -> torch.Tensor:
    """The image tokens Wan's image projection takes: CLIP vision's penultimate hidden states."""
    hidden = getattr(output, "penultimate_hidden_states", None)
    if hidden is None and isinstance(output, dict):
        hidden = output.get("penultimate_hidden_states")
    if hidden is None:
        raise ValueError("clip_vision_output holds no penultimate hidden states for Wan's image projection.")
    return hidden
