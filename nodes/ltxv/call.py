"""LTX-Video's network call on a 5-D video latent (B, 128, T, H, W).

diffusers' LTXVideoTransformer3DModel takes the latent as a token sequence (patch size 1: one token per
latent cell, frame-major), the timestep sigma * 1000 (the handle's ModelSampling), T5's states and the
rotary positions scaled to pixel units: (8 / frame_rate, 32, 32), as LTXVConditioning's frame_rate sets
(25 without it, ComfyUI's default). With a noise mask (LTXVImgToVideo's) each token gets the timestep
times its mask, so a kept first frame is seen clean at timestep 0 (the Denoiser keeps it clean for this
family), as ComfyUI runs LTX-Video. The output is the velocity (noise - x0), float32.
"""

from __future__ import annotations

from typing import Any

import torch

DEFAULT_FRAME_RATE = 25.0
TEMPORAL, SPATIAL = 8, 32


def ltxv_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    transformer = model.unet
    dtype = transformer.dtype
    b, c, frames, h, w = x.shape
    tokens = x.permute(0, 2, 3, 4, 1).reshape(b, frames * h * w, c)
    timestep = torch.as_tensor(t, device=x.device, dtype=torch.float32).reshape(-1).expand(b)
    mask = kwargs.get("denoise_mask")
    if mask is not None:  # one timestep per token: 0 on a kept frame (ComfyUI's LTXV)
        cells = mask.to(x.device, torch.float32).expand(b, 1, frames, h, w).reshape(b, frames * h * w)
        timestep = timestep[:, None] * cells
    rate = kwargs.get("frame_rate")  # one per row (the guider batches rows); a clip has one rate
    frame_rate = DEFAULT_FRAME_RATE if rate is None else float(rate.reshape(-1)[0])
    context = context.to(x.device, dtype)
    out = transformer(
        hidden_states=tokens.to(dtype),
        encoder_hidden_states=context,
        timestep=timestep,
        encoder_attention_mask=torch.ones(context.shape[:2], device=x.device, dtype=dtype),
        num_frames=frames,
        height=h,
        width=w,
        rope_interpolation_scale=(TEMPORAL / frame_rate, SPATIAL, SPATIAL),
        return_dict=False,
    )[0]
    return out.float().reshape(b, frames, h, w, c).permute(0, 4, 1, 2, 3)


def ltxv_kwargs(model: Any, extras: dict[str, Any], *, batch: int) -> dict[str, Any]:
    """LTXVConditioning's frame rate and a noise mask's per-frame weights (the Denoiser's), one entry's."""
    rate, mask = extras.get("frame_rate"), extras.get("denoise_mask")
    out: dict[str, Any] = {} if rate is None else {"frame_rate": torch.full((batch,), float(rate))}
    if mask is not None:
        out["denoise_mask"] = mask.float().expand(batch, -1, -1, -1, -1)
    return out
