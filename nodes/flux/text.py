"""FLUX text encoding: T5-XXL's hidden states are the context, CLIP-L's pooled output the vector.

As ComfyUI encodes for FLUX: the T5 prompt gets T5's end token and no start token, padded with the
pad token to at least 256 tokens (longer prompts are not cut); the CLIP-L prompt is encoded as for
SD 1.x (77-token windows) and only its pooled output is kept. No attention mask, as in BFL's
reference and diffusers' FluxPipeline: the pad tokens' states are part of the context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nodes.diffusion.handles import ClipHandle
from nodes.diffusion.tokens import token_ids

T5_MIN_TOKENS = 256
Conditioning = list[list[Any]]


def check_flux_clip(clip: ClipHandle, node: str) -> None:
    if clip.kind != "flux" or clip.t5_encoder is None:
        raise ValueError(
            f"{node} needs a FLUX CLIP (CLIP-L and T5-XXL): load it with DualCLIPLoader type 'flux' "
            "or from a FLUX checkpoint."
        )


@torch.inference_mode()
def encode_t5(
    clip: ClipHandle,
    text: str,
    *,
    check: Callable[[], None] | None = None,
    min_tokens: int = T5_MIN_TOKENS,
) -> torch.Tensor:
    """T5's last hidden states for `text`, (1, tokens, width), on the CPU in float32; at least
    `min_tokens` tokens (FLUX pads to 256, SD3 to 77)."""
    tokenizer, encoder = clip.t5_tokenizer, clip.t5_encoder
    ids = [*token_ids(tokenizer, text, check), tokenizer.eos_token_id]
    ids += [tokenizer.pad_token_id] * (min_tokens - len(ids))
    device = next(encoder.parameters()).device
    hidden = encoder(input_ids=torch.tensor([ids], device=device)).last_hidden_state
    return hidden.float().cpu()


def encode_flux(
    clip: ClipHandle, *, clip_l: str, t5xxl: str, check: Callable[[], None] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(context from T5, pooled output from CLIP-L)."""
    from nodes.diffusion.ops import encode_text

    device = str(next(clip.text_encoder.parameters()).device)
    _, pooled = encode_text(clip, clip_l, device, check=check)
    return encode_t5(clip, t5xxl, check=check), pooled.float().cpu()
