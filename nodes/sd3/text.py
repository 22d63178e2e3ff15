"""SD3 text encoding: CLIP-L and CLIP-G side by side, padded to T5's width, then T5 after them.

As ComfyUI's SD3 text encoder (and SAI's reference): each CLIP reads its penultimate layer without the
final layer norm, in 77-token windows (the shorter prompt gets empty windows so the two line up);
their hidden states are concatenated along the channels (768 + 1280) and zero-padded to T5-XXL's 4096;
T5's last hidden states (its end token, padded to at least 77 tokens, no attention mask) follow along
the sequence. The pooled vector is CLIP-L's pooled output (not projected) next to CLIP-G's projected
one (768 + 1280 = 2048). Any encoder may be missing (CLIPLoader / DualCLIPLoader type sd3, or a
checkpoint without T5): a missing CLIP's part is zeros, a missing T5 leaves the CLIP part alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nodes.context import NodeContext
from nodes.diffusion.handles import ClipHandle
from nodes.diffusion.patching import patched
from nodes.diffusion.sdxl_text import _row, _windows
from nodes.flux.text import encode_t5

CONTEXT_WIDTH = 4096  # T5-XXL's, what the MMDiT's context embedder takes
CLIP_L_WIDTH, CLIP_G_WIDTH = 768, 1280  # the zeros that stand for a missing CLIP
T5_MIN_TOKENS = 77
CLIP_LAYER = -2  # the penultimate layer, both CLIPs
Conditioning = list[list[Any]]


def sd3_clip(encoders: dict[str, tuple[Any, Any]]) -> ClipHandle:
    """SD3's CLIP from any of its loaded encoders ({family: (module, tokenizer)})."""
    clip_l, tokenizer = encoders.get("clip_l", (None, None))
    clip_g, tokenizer_2 = encoders.get("clip_g", (None, None))
    t5, t5_tokenizer = encoders.get("t5xxl", (None, None))
    return ClipHandle(
        tokenizer=tokenizer,
        text_encoder=clip_l,
        last_layer=CLIP_LAYER,
        tokenizer_2=tokenizer_2,
        text_encoder_2=clip_g,
        kind="sd3",
        t5_tokenizer=t5_tokenizer,
        t5_encoder=t5,
    )


def sd3_clip_from_checkpoint(path: Path, parts: list[str], device: str) -> ClipHandle:
    """The text encoders under a checkpoint's ``text_encoders.<part>.transformer.*``."""
    from nodes.loaders.text_encoders import clip_from_state, t5_from_state
    from nodes.loaders.weights import read_prefixed

    sidecars = {"clip_l": "text_encoder", "clip_g": "text_encoder_2"}
    encoders: dict[str, tuple[Any, Any]] = {}
    for part in parts:
        state = read_prefixed(path, f"text_encoders.{part}.transformer.", what="Checkpoint")
        if part == "t5xxl":
            encoders[part] = t5_from_state(path, state, device)
        else:
            encoders[part] = clip_from_state(path, state, device, sidecar_part=sidecars[part])
    return sd3_clip(encoders)


def _encode_clip(
    clip: ClipHandle, which: str, rows: list[list[int]], device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """One CLIP's hidden states over `rows` (windows), and the first window's pooled output: CLIP-L's
    as it comes out, CLIP-G's projected (as ComfyUI's SD3 encoder)."""
    second = which == "g"
    encoder = clip.text_encoder_2 if second else clip.text_encoder
    tokenizer = clip.tokenizer_2 if second else clip.tokenizer
    hidden, pooled = [], None
    with patched(encoder, clip.patches, role="text_encoder_2" if second else "text_encoder") as model:
        for chunk in rows:
            out = model(_row(tokenizer, chunk, device), output_hidden_states=True)
            hidden.append(out.hidden_states[clip.last_layer].float().cpu())
            if pooled is None:
                pooled = (out.text_embeds if second else out.pooler_output).float().cpu()
    assert pooled is not None, "a prompt always has at least one window"
    return torch.cat(hidden, dim=1), pooled


def _encode_clips(
    clip: ClipHandle, text_l: str, text_g: str, device: str, check: Callable[[], None] | None
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(CLIP-L and CLIP-G hidden states side by side, or None without either; the pooled pair)."""
    rows_l = _windows(clip.tokenizer, text_l, check) if clip.text_encoder is not None else []
    rows_g = _windows(clip.tokenizer_2, text_g, check) if clip.text_encoder_2 is not None else []
    count = max(len(rows_l), len(rows_g))
    l_out: torch.Tensor | None = None
    g_out: torch.Tensor | None = None
    pooled_l, pooled_g = torch.zeros(1, CLIP_L_WIDTH), torch.zeros(1, CLIP_G_WIDTH)
    if rows_l:
        l_out, pooled_l = _encode_clip(clip, "l", rows_l + [[]] * (count - len(rows_l)), device)
    if rows_g:
        g_out, pooled_g = _encode_clip(clip, "g", rows_g + [[]] * (count - len(rows_g)), device)
    lg: torch.Tensor | None
    if l_out is not None and g_out is not None:
        lg = torch.cat([l_out, g_out], dim=-1)
    elif g_out is not None:  # CLIP-G alone still sits after CLIP-L's (zero) channels
        lg = F.pad(g_out, (CLIP_L_WIDTH, 0))
    else:
        lg = l_out
    return lg, torch.cat([pooled_l, pooled_g], dim=-1)


@torch.inference_mode()
def encode_sd3(
    clip: ClipHandle,
    *,
    clip_l: str,
    clip_g: str,
    t5xxl: str,
    device: str,
    check: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(context [1, tokens, width], pooled [1, width_l + width_g]) on the CPU in float32."""
    lg, pooled = _encode_clips(clip, clip_l, clip_g, device, check)
    t5 = None
    if clip.t5_encoder is not None:
        t5 = encode_t5(clip, t5xxl, check=check, min_tokens=T5_MIN_TOKENS)
    # Padded to T5's width (4096 for the real models; a tiny stand-in may be narrower than the CLIPs).
    width = max(t5.shape[-1] if t5 is not None else CONTEXT_WIDTH, lg.shape[-1] if lg is not None else 0)
    pieces = [F.pad(p, (0, width - p.shape[-1])) for p in (lg, t5) if p is not None]
    context = torch.cat(pieces, dim=1) if pieces else torch.zeros(1, 77, CONTEXT_WIDTH)
    return context, pooled


def clip_text_encode_sd3(
    ctx: NodeContext, clip: ClipHandle, clip_l: str, clip_g: str, t5xxl: str
) -> tuple[Conditioning]:
    if clip.kind != "sd3":
        raise ValueError(
            "This needs an SD3 CLIP: load it with TripleCLIPLoader (or CLIPLoader/DualCLIPLoader type sd3)."
        )
    encoder = clip.text_encoder or clip.text_encoder_2 or clip.t5_encoder
    device = str(next(encoder.parameters()).device)
    context, pooled = encode_sd3(
        clip, clip_l=clip_l, clip_g=clip_g, t5xxl=t5xxl, device=device, check=ctx.check_cancelled
    )
    return ([[context, {"pooled_output": pooled}]],)
