"""Conditioning nodes that limit where (area, mask) or when (timestep range) an entry applies.

They only annotate each entry's extras; nodes/diffusion/guidance.py reads the
annotations while sampling. Entries and their extras are copied, never
changed in place: node results are cached and shared between executions.
"""

from __future__ import annotations

from typing import Any

from nodes.context import NodeContext

Conditioning = list[list[Any]]


def _annotated(conditioning: Conditioning, **extras: Any) -> Conditioning:
    return [[embeddings, {**old, **extras}] for embeddings, old in conditioning]


def conditioning_set_area(
    ctx: NodeContext, conditioning: Conditioning, width: int, height: int, x: int, y: int, strength: float
) -> tuple[Conditioning]:
    # ComfyUI keeps areas in latent cells: (height, width, y, x) // 8.
    area = (height // 8, width // 8, y // 8, x // 8)
    return (_annotated(conditioning, area=area, strength=strength, set_area_to_bounds=False),)


def conditioning_set_area_percentage(
    ctx: NodeContext,
    conditioning: Conditioning,
    width: float,
    height: float,
    x: float,
    y: float,
    strength: float,
) -> tuple[Conditioning]:
    area = ("percentage", height, width, y, x)
    return (_annotated(conditioning, area=area, strength=strength, set_area_to_bounds=False),)


def conditioning_set_area_strength(
    ctx: NodeContext, conditioning: Conditioning, strength: float
) -> tuple[Conditioning]:
    return (_annotated(conditioning, strength=strength),)


def conditioning_set_mask(
    ctx: NodeContext, conditioning: Conditioning, mask: Any, strength: float, set_cond_area: str
) -> tuple[Conditioning]:
    if set_cond_area not in ("default", "mask bounds"):
        raise ValueError(f"set_cond_area must be 'default' or 'mask bounds', got {set_cond_area!r}.")
    if mask.dim() < 3:
        mask = mask.unsqueeze(0)
    bounds = set_cond_area == "mask bounds"
    return (_annotated(conditioning, mask=mask, set_area_to_bounds=bounds, mask_strength=strength),)


def conditioning_set_timestep_range(
    ctx: NodeContext, conditioning: Conditioning, start: float, end: float
) -> tuple[Conditioning]:
    if start > end:
        raise ValueError(f"start ({start}) must not be after end ({end}): both are fractions of sampling.")
    return (_annotated(conditioning, start_percent=start, end_percent=end),)
