"""Implementations of the conditioning nodes. CONDITIONING is [[embeddings, {"pooled_output": ...}], ...]."""

from __future__ import annotations

from typing import Any

import torch

from nodes.context import NodeContext

Conditioning = list[list[Any]]


def conditioning_zero_out(ctx: NodeContext, conditioning: Conditioning) -> tuple[Conditioning]:
    out = []
    for embeddings, extras in conditioning:
        extras = dict(extras)
        if extras.get("pooled_output") is not None:
            extras["pooled_output"] = torch.zeros_like(extras["pooled_output"])
        out.append([torch.zeros_like(embeddings), extras])
    return (out,)


def conditioning_average(
    ctx: NodeContext,
    conditioning_to: Conditioning,
    conditioning_from: Conditioning,
    conditioning_to_strength: float = 1.0,
) -> tuple[Conditioning]:
    """Each `to` entry blended with the first `from` entry, which is cut or zero-padded to its length."""
    if not conditioning_from:
        raise ValueError("Input 'conditioning_from' is empty.")
    source, source_extras = conditioning_from[0]
    weight = conditioning_to_strength
    out = []
    for embeddings, extras in conditioning_to:
        other = source[:, : embeddings.shape[1]]
        if other.shape[1] < embeddings.shape[1]:
            pad = embeddings.shape[1] - other.shape[1]
            other = torch.cat([other, other.new_zeros(other.shape[0], pad, other.shape[2])], dim=1)
        blended = embeddings * weight + other.to(embeddings.dtype) * (1.0 - weight)
        extras = dict(extras)
        pooled_to, pooled_from = extras.get("pooled_output"), source_extras.get("pooled_output")
        if pooled_to is not None and pooled_from is not None:
            extras["pooled_output"] = pooled_to * weight + pooled_from.to(pooled_to.dtype) * (1.0 - weight)
        out.append([blended, extras])
    return (out,)


def conditioning_combine(
    ctx: NodeContext, conditioning_1: Conditioning, conditioning_2: Conditioning
) -> tuple[Conditioning]:
    """Both lists' entries: each is predicted on its own and the predictions averaged while sampling."""
    return ([*conditioning_1, *conditioning_2],)


def conditioning_concat(
    ctx: NodeContext, conditioning_to: Conditioning, conditioning_from: Conditioning
) -> tuple[Conditioning]:
    """Each `to` entry with the first `from` entry's tokens appended (one longer prompt, ComfyUI's rule)."""
    if not conditioning_from:
        raise ValueError("Input 'conditioning_from' is empty.")
    source = conditioning_from[0][0]
    out = []
    for embeddings, extras in conditioning_to:
        if source.shape[-1] != embeddings.shape[-1]:
            raise ValueError(
                f"Cannot concatenate conditionings of width {embeddings.shape[-1]} and {source.shape[-1]}: "
                "they come from different text encoders."
            )
        out.append([torch.cat([embeddings, source.to(embeddings.dtype)], dim=1), dict(extras)])
    return (out,)
