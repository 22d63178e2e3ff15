"""Wan 2.1's text encoder: UMT5-XXL's encoder (``text_encoders/umt5_xxl_fp16.safetensors``).

The file (or ComfyUI's scaled fp8 form, ``umt5_xxl_fp8_e4m3fn_scaled``: scaled_fp8.py) holds transformers'
UMT5EncoderModel under HF's names (``shared.weight``, ``encoder.block.N.layer.0.SelfAttention.q.weight``
...; unlike T5 every block has its own relative-position bias). Its SentencePiece tokenizer ships in no
package here (as T5's, docs/flux.md): it is read from ``NAME.tokenizer/`` beside the file or
``umt5_tokenizer/`` in the same folder.

Encoding, as Wan's reference and diffusers' WanPipeline: the prompt and its end token under an
attention mask (cut to 512 tokens), the states past it set to zero, padded with zeros to 512 tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nodes.diffusion.handles import ClipHandle
from nodes.diffusion.tokens import token_ids
from nodes.loaders.text_encoders import T5_TOKENIZER_FILES, t5_config
from nodes.loaders.weights import flow_dtype, module_from_state, read_prefixed
from nodes.wan.scaled_fp8 import dequantize, is_scaled_fp8

TEXT_TOKENS = 512
SHARED_TOKENIZER = "umt5_tokenizer"


def load_umt5_encoder(path: Path, device: str) -> tuple[Any, Any]:
    """(UMT5EncoderModel, its tokenizer) from a UMT5 encoder file."""
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    folder = umt5_tokenizer_dir(path)
    if folder is None:  # before the large part, so a missing tokenizer fails at once
        raise ValueError(
            f"UMT5 encoder {path.name!r} needs UMT5's tokenizer, which no installed package ships: put the "
            "tokenizer files of google/umt5-xxl (tokenizer.json or spiece.model, with tokenizer_config.json) "
            f"in {path.with_suffix('.tokenizer').name}/ next to it, or in {SHARED_TOKENIZER}/ in the same "
            "folder (docs/wan.md)."
        )
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    state = read_prefixed(path, what="Text encoder")
    if is_scaled_fp8(state):  # umt5_xxl_fp8_e4m3fn_scaled.safetensors, the file ComfyUI's examples name
        state = dequantize(state, flow_dtype(device))
    try:
        config = UMT5Config(**t5_config(state))
    except ValueError as exc:
        raise ValueError(f"Text encoder {path.name!r}: {exc}") from None
    state.pop("encoder.embed_tokens.weight", None)  # the same matrix as shared.weight: tied below
    model, missing = module_from_state(
        UMT5EncoderModel, config, state, flow_dtype(device), strict=False, device=device
    )
    model.encoder.embed_tokens.weight = model.shared.weight
    missing = [key for key in missing if key != "encoder.embed_tokens.weight"]
    if missing:
        raise ValueError(f"UMT5 encoder {path.name!r} lacks weights: {', '.join(missing[:5])}.")
    model.to(device).eval().requires_grad_(False)
    return model, tokenizer


def umt5_tokenizer_dir(path: Path) -> Path | None:
    for folder in (path.with_suffix(".tokenizer"), path.parent / SHARED_TOKENIZER):
        if any((folder / name).is_file() for name in T5_TOKENIZER_FILES):
            return folder
    return None


def wan_clip(tokenizer: Any, encoder: Any) -> ClipHandle:
    return ClipHandle(
        tokenizer=None, text_encoder=None, kind="wan", t5_tokenizer=tokenizer, t5_encoder=encoder
    )


@torch.inference_mode()
def encode_umt5(clip: ClipHandle, text: str, *, check: Callable[[], None] | None = None) -> torch.Tensor:
    """(1, 512, width) on the CPU in float32: the prompt's states, zeros after its end."""
    tokenizer, encoder = clip.t5_tokenizer, clip.t5_encoder
    # At most 512 tokens, end token included (Wan's text length; the I2V cross-attention splits the
    # context at 512 text tokens), as the reference and WanPipeline truncate.
    ids = [*token_ids(tokenizer, text, check)[: TEXT_TOKENS - 1], tokenizer.eos_token_id]
    real = len(ids)
    ids += [tokenizer.pad_token_id] * (TEXT_TOKENS - real)
    mask = torch.zeros(1, TEXT_TOKENS, dtype=torch.long)
    mask[:, :real] = 1
    device = next(encoder.parameters()).device
    hidden = encoder(input_ids=torch.tensor([ids], device=device), attention_mask=mask.to(device))
    states = hidden.last_hidden_state.float().cpu()
    states[:, real:] = 0.0
    return states


def clip_text_encode_wan(ctx: Any, clip: ClipHandle, text: str) -> tuple[list[list[Any]]]:
    return ([[encode_umt5(clip, text, check=ctx.check_cancelled), {}]],)
