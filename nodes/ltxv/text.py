"""LTX-Video's text encoder: T5-XXL alone (CLIPLoader type ``ltxv`` on ``t5xxl_fp16.safetensors``).

The same T5 code and tokenizer placement as FLUX's (nodes/loaders/text_encoders.py, docs/flux.md); the
prompt's states padded to at least 128 tokens, LTX-Video's text length.
"""

from __future__ import annotations

from typing import Any

from nodes.diffusion.handles import ClipHandle

TEXT_TOKENS = 128


def clip_text_encode_ltxv(ctx: Any, clip: ClipHandle, text: str) -> tuple[list[list[Any]]]:
    from nodes.flux.text import encode_t5

    states = encode_t5(clip, text, check=ctx.check_cancelled, min_tokens=TEXT_TOKENS)
    return ([[states, {}]],)
