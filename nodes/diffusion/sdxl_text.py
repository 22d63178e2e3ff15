"""SDXL text encoding: CLIPTextEncode on an SDXL (or refiner) CLIP, CLIPTextEncodeSDXL(Refiner).

As in ComfyUI and diffusers' StableDiffusionXLPipeline, both encoders read the
layer that CLIPSetLastLayer picks (the penultimate by default) WITHOUT the final
layer norm, and their hidden states are concatenated along the channel axis
(CLIP-L's 768 + bigG's 1280 = 2048 for the real model). The pooled output is
bigG's projected end-of-text embedding (``text_embeds``), always from its last
layer. Long prompts go in 75-token windows per encoder; when the two prompts
need different numbers of windows, the shorter side gets empty-prompt windows
so the two line up, as ComfyUI does. The pooled output is the first window's.

The refiner's CLIP has bigG only (no CLIP-L): its embeddings are bigG's layer alone, and
CLIPTextEncodeSDXLRefiner's aesthetic score and size ride along like CLIPTextEncodeSDXL's sizes.

CLIPTextEncodeSDXL's sizes ride along in the conditioning's extras and become
the UNet's ``time_ids`` at sampling time (unet_inputs.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import ClipHandle
from nodes.diffusion.patching import patched
from nodes.diffusion.tokens import token_ids

Conditioning = list[list[Any]]
SIZE_KEYS = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")


def clip_text_encode(ctx: NodeContext, text: str, clip: ClipHandle) -> tuple[Conditioning]:
    """Plain CLIPTextEncode on an SDXL CLIP: the same text for both encoders, sizes left to the sampler."""
    embeddings, pooled = encode_sdxl(
        clip, text_g=text, text_l=text, device=ctx.device, check=ctx.check_cancelled
    )
    return ([[embeddings, {"pooled_output": pooled}]],)


def clip_text_encode_sdxl(
    ctx: NodeContext,
    clip: ClipHandle,
    width: int,
    height: int,
    crop_w: int,
    crop_h: int,
    target_width: int,
    target_height: int,
    text_g: str,
    text_l: str,
) -> tuple[Conditioning]:
    if clip.text_encoder_2 is None:
        raise ValueError(
            "CLIPTextEncodeSDXL needs an SDXL CLIP (two text encoders); this CLIP has one. "
            "Load an SDXL checkpoint, or use CLIPTextEncode."
        )
    embeddings, pooled = encode_sdxl(
        clip, text_g=text_g, text_l=text_l, device=ctx.device, check=ctx.check_cancelled
    )
    sizes = dict(zip(SIZE_KEYS, (width, height, crop_w, crop_h, target_width, target_height), strict=True))
    return ([[embeddings, {"pooled_output": pooled, **sizes}]],)


@torch.inference_mode()
def encode_sdxl(
    clip: ClipHandle, *, text_g: str, text_l: str, device: str, check: Callable[[], None] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings [1, 77 * windows, width_l + width_g], pooled [1, projection_dim]) for the two prompts."""
    if clip.text_encoder is None:  # the SDXL refiner: bigG alone
        return _encode_g(clip, text_g, device, check)
    windows_l = _windows(clip.tokenizer, text_l, check)
    windows_g = _windows(clip.tokenizer_2, text_g, check)
    count = max(len(windows_l), len(windows_g))
    windows_l += [[]] * (count - len(windows_l))
    windows_g += [[]] * (count - len(windows_g))
    hidden, pooled = [], None
    with (
        patched(clip.text_encoder, clip.patches, role="text_encoder") as encoder_l,
        patched(clip.text_encoder_2, clip.patches, role="text_encoder_2") as encoder_g,
    ):
        for chunk_l, chunk_g in zip(windows_l, windows_g, strict=True):
            out_l = encoder_l(_row(clip.tokenizer, chunk_l, device), output_hidden_states=True)
            out_g = encoder_g(_row(clip.tokenizer_2, chunk_g, device), output_hidden_states=True)
            layer_l, layer_g = out_l.hidden_states[clip.last_layer], out_g.hidden_states[clip.last_layer]
            hidden.append(torch.cat([layer_l, layer_g.to(layer_l.dtype)], dim=-1))
            if pooled is None:
                pooled = out_g.text_embeds
    assert pooled is not None, "a prompt always has at least one window"
    return torch.cat(hidden, dim=1), pooled


def clip_text_encode_sdxl_refiner(
    ctx: NodeContext, ascore: float, width: int, height: int, text: str, clip: ClipHandle
) -> tuple[Conditioning]:
    """The refiner's prompt with its aesthetic score and image size (refiner_loading.refiner_kwargs)."""
    if clip.text_encoder_2 is None:
        raise ValueError(
            "CLIPTextEncodeSDXLRefiner needs an SDXL refiner's CLIP (OpenCLIP bigG); this CLIP has none. "
            "Load sd_xl_refiner_1.0 (or an SDXL checkpoint), or use CLIPTextEncode."
        )
    embeddings, pooled = encode_sdxl(
        clip, text_g=text, text_l=text, device=ctx.device, check=ctx.check_cancelled
    )
    extras = {"pooled_output": pooled, "aesthetic_score": ascore, "width": width, "height": height}
    return ([[embeddings, extras]],)


def _encode_g(
    clip: ClipHandle, text: str, device: str, check: Callable[[], None] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """bigG alone (the refiner): its chosen layer, no final norm, as in encode_sdxl."""
    hidden, pooled = [], None
    with patched(clip.text_encoder_2, clip.patches, role="text_encoder_2") as encoder_g:
        for chunk in _windows(clip.tokenizer_2, text, check):
            out = encoder_g(_row(clip.tokenizer_2, chunk, device), output_hidden_states=True)
            hidden.append(out.hidden_states[clip.last_layer])
            if pooled is None:
                pooled = out.text_embeds
    assert pooled is not None, "a prompt always has at least one window"
    return torch.cat(hidden, dim=1), pooled


def _windows(tokenizer: Any, text: str, check: Callable[[], None] | None = None) -> list[list[int]]:
    body = token_ids(tokenizer, text, check)
    step = tokenizer.model_max_length - 2
    return [body[i : i + step] for i in range(0, len(body), step)] or [[]]


def _row(tokenizer: Any, chunk: list[int], device: str) -> torch.Tensor:
    # bigG's tokenizer pads with "!" (id 0) and CLIP-L's with the end token: each uses its own.
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    row = [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]
    row += [pad_id] * (tokenizer.model_max_length - len(row))
    return torch.tensor([row], device=device)
