"""CLIPTextEncodeSD3: a prompt per encoder (CLIP-L, CLIP-G, T5-XXL)."""

from __future__ import annotations

import dataclasses
from typing import Any

from nodes.context import NodeContext
from nodes.diffusion.handles import ClipHandle
from nodes.sd3 import text

Conditioning = list[list[Any]]


def clip_text_encode_sd3(
    ctx: NodeContext, clip: ClipHandle, clip_l: str, clip_g: str, t5xxl: str, empty_padding: str = "none"
) -> tuple[Conditioning]:
    """`empty_padding` "none": an empty prompt leaves its encoder out (a CLIP's part is zeros, T5 adds
    no tokens), as ComfyUI drops its tokens; "empty_prompt": the empty prompt is encoded as any other."""
    if empty_padding not in ("none", "empty_prompt"):
        raise ValueError(f"empty_padding must be 'none' or 'empty_prompt', got {empty_padding!r}.")
    if empty_padding == "none":
        dropped: dict[str, Any] = {}
        if not clip_l:
            dropped |= {"text_encoder": None, "tokenizer": None}
        if not clip_g:
            dropped |= {"text_encoder_2": None, "tokenizer_2": None}
        if not t5xxl:
            dropped |= {"t5_encoder": None, "t5_tokenizer": None}
        if clip.kind == "sd3" and dropped:
            kept = dataclasses.replace(clip, **dropped)
            if kept.text_encoder or kept.text_encoder_2 or kept.t5_encoder:
                return text.clip_text_encode_sd3(ctx, kept, clip_l, clip_g, t5xxl)
            context, pooled = text.encode_sd3(kept, clip_l="", clip_g="", t5xxl="", device="cpu")
            return ([[context, {"pooled_output": pooled}]],)
    return text.clip_text_encode_sd3(ctx, clip, clip_l, clip_g, t5xxl)
