"""SD3's network call: the latent as it is (the MMDiT patchifies it), pooled text, timestep = 1000 sigma.

diffusers' SD3Transformer2DModel embeds the timestep as given; ComfyUI's ModelSamplingSD3 (multiplier
1000) and diffusers' SD3 pipeline both give it sigma * 1000. The output is the velocity (noise - x0)
on the latent grid, float32. A latent side that is not a multiple of the patch is padded (wrapping
around) and cropped back, as for FLUX.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def _fit_context(context: torch.Tensor, width: int) -> torch.Tensor:
    """The context padded (zeros) or cut to the model's text width: only zero columns may go."""
    have = context.shape[-1]
    if have < width:
        return F.pad(context, (0, width - have))
    if have > width:
        if context[..., width:].abs().max() > 0:
            raise ValueError(
                f"This SD3 model takes text {width} wide, but the conditioning is {have} wide: encode "
                "prompts with SD3's text encoders (TripleCLIPLoader)."
            )
        return context[..., :width]
    return context


def sd3_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    transformer = model.unet
    dtype = transformer.dtype
    patch = int(transformer.config.patch_size)
    b, _, h, w = x.shape
    pad_h, pad_w = -h % patch, -w % patch
    padded = F.pad(x, (0, pad_w, 0, pad_h), mode="circular") if pad_h or pad_w else x
    context = _fit_context(context, int(transformer.config.joint_attention_dim))
    timestep = torch.as_tensor(t, device=x.device, dtype=dtype).reshape(-1).expand(b)
    out = transformer(
        hidden_states=padded.to(dtype),
        encoder_hidden_states=context.to(x.device, dtype),
        pooled_projections=kwargs["pooled_projections"].to(x.device, dtype),
        timestep=timestep,
        return_dict=False,
    )[0]
    return out.float()[:, :, :h, :w]


def sd3_kwargs(model: Any, extras: dict[str, Any], *, batch: int) -> dict[str, Any]:
    """One conditioning entry's pooled CLIP-L + CLIP-G text, `batch` rows."""
    pooled = extras.get("pooled_output")
    width = int(model.unet.config.pooled_projection_dim)
    if pooled is None or pooled.dim() != 2 or pooled.shape[-1] != width:
        got = "none" if pooled is None else tuple(pooled.shape)
        raise ValueError(
            f"An SD3 model needs CLIP-L + CLIP-G's pooled text (width {width}) in every conditioning, got "
            f"{got}: encode prompts with an SD3 CLIP (TripleCLIPLoader, or an SD3 checkpoint's CLIP)."
        )
    pooled = pooled.detach().to("cpu", torch.float32)
    if pooled.shape[0] != batch:
        pooled = pooled[torch.arange(batch) % pooled.shape[0]]
    return {"pooled_projections": pooled}
