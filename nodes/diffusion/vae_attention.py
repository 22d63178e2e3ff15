"""The VAE's self-attention, run over bounded chunks of queries.

The SD VAE has one attention layer in the middle of its encoder and decoder,
over every latent position at once: for a 2048x2048 image that is 65,536
positions, so one call builds a 65k x 65k score matrix (16 GiB in float32)
and runs for many seconds without returning to Python. Each query row's
softmax is independent of the others, so computing the queries in chunks
gives the same values with a bounded score matrix; and because each chunk
goes through the layer's own query and output projections (torch modules),
the worker's cancel check in module forward hooks runs between chunks. An
image small enough for one chunk is computed in one piece, as before.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

# Score-matrix elements per chunk (float32: 256 MiB); 512x512 images and smaller fit in one chunk.
MAX_SCORES_PER_CHUNK = 2**26


class ChunkedSelfAttention:
    """An attention processor (diffusers' interface) for the VAE's mask-free self-attention."""

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None or attn.spatial_norm is not None:
            raise ValueError("ChunkedSelfAttention handles the VAE's plain self-attention only.")
        residual = hidden_states
        spatial = hidden_states.ndim == 4
        if spatial:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        batch, positions, _ = hidden_states.shape
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        key = _heads(attn.to_k(hidden_states), attn.heads)
        value = _heads(attn.to_v(hidden_states), attn.heads)
        rows = max(1, MAX_SCORES_PER_CHUNK // (positions * attn.heads * batch))
        pieces = []
        for start in range(0, positions, rows):
            query = _heads(attn.to_q(hidden_states[:, start : start + rows]), attn.heads)
            out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
            out = out.transpose(1, 2).reshape(batch, -1, key.shape[1] * key.shape[3]).to(query.dtype)
            pieces.append(attn.to_out[1](attn.to_out[0](out)))
        hidden_states = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)
        if spatial:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def _heads(projected: torch.Tensor, heads: int) -> torch.Tensor:
    batch, positions, inner = projected.shape
    return projected.view(batch, positions, heads, inner // heads).transpose(1, 2)


def use_chunked_attention(vae: Any) -> None:
    """Give every attention layer of an AutoencoderKL the chunked processor."""
    vae.set_attn_processor(ChunkedSelfAttention())
