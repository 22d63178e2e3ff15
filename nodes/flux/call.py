"""FLUX's network call: the latent packed into 2x2 patch tokens, positions, guidance, pooled text.

The sampler gives `t` = sigma (ModelSampling.flow with multiplier 1.0, as ComfyUI's FLUX); diffusers'
FluxTransformer2DModel multiplies timestep and guidance by 1000 itself before embedding them, which
is what BFL's model does to the t in [0, 1] and the guidance scale it is given. The output is the
velocity (noise - x0) on the latent grid, float32.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

DEFAULT_GUIDANCE = 3.5  # ComfyUI's, when no FluxGuidance set one


def pack(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) with even H, W -> (B, H/2 * W/2, C * 4): each 2x2 patch one token, channels first."""
    b, c, h, w = x.shape
    return (
        x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)
    )


def unpack(tokens: torch.Tensor, channels: int, h: int, w: int) -> torch.Tensor:
    b = tokens.shape[0]
    return (
        tokens.reshape(b, h // 2, w // 2, channels, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, channels, h, w)
    )


def image_ids(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(H/2 * W/2, 3) positions: (0, row, column) of each patch token, as BFL's reference."""
    ids = torch.zeros(h // 2, w // 2, 3, device=device, dtype=dtype)
    ids[..., 1] = torch.arange(h // 2, device=device, dtype=dtype)[:, None]
    ids[..., 2] = torch.arange(w // 2, device=device, dtype=dtype)[None, :]
    return ids.reshape(-1, 3)


def flux_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    transformer = model.unet
    dtype = transformer.dtype
    b, c, h, w = x.shape
    # An odd latent side is padded to the 2x2 patch grid (wrapping around) and cropped back after.
    padded = F.pad(x, (0, w % 2, 0, h % 2), mode="circular") if h % 2 or w % 2 else x
    ph, pw = padded.shape[-2:]
    timestep = torch.as_tensor(t, device=x.device, dtype=dtype).reshape(-1).expand(b)
    guidance = kwargs.get("guidance")
    if guidance is not None:
        guidance = guidance.to(x.device, dtype)
    out = transformer(
        hidden_states=pack(padded.to(dtype)),
        encoder_hidden_states=context.to(x.device, dtype),
        pooled_projections=kwargs["pooled_projections"].to(x.device, dtype),
        timestep=timestep,
        img_ids=image_ids(ph, pw, x.device, dtype),
        txt_ids=torch.zeros(context.shape[1], 3, device=x.device, dtype=dtype),
        guidance=guidance,
        return_dict=False,
    )[0]
    return unpack(out.float(), c, ph, pw)[:, :, :h, :w]


def flux_kwargs(model: Any, extras: dict[str, Any], *, batch: int) -> dict[str, Any]:
    """One conditioning entry's pooled CLIP-L text and (for dev) its guidance scale, `batch` rows."""
    transformer = model.unet
    pooled = extras.get("pooled_output")
    width = int(transformer.config.pooled_projection_dim)
    if pooled is None or pooled.dim() != 2 or pooled.shape[-1] != width:
        got = "none" if pooled is None else tuple(pooled.shape)
        raise ValueError(
            f"A FLUX model needs CLIP-L's pooled text (width {width}) in every conditioning, got {got}: "
            "encode prompts with a FLUX CLIP (DualCLIPLoader type 'flux', or a FLUX checkpoint's CLIP)."
        )
    pooled = pooled.detach().to("cpu", torch.float32)
    if pooled.shape[0] != batch:
        pooled = pooled[torch.arange(batch) % pooled.shape[0]]
    out: dict[str, Any] = {"pooled_projections": pooled}
    if transformer.config.guidance_embeds:
        scale = float(extras.get("guidance", DEFAULT_GUIDANCE))
        out["guidance"] = torch.full((batch,), scale, dtype=torch.float32)
    return out
