"""The optional fields of a LATENT dict: "noise_mask" and "batch_index".

A LATENT is {"samples": [B, 4, H/8, W/8], "noise_mask": mask (optional), "batch_index": [int] (optional)}.
Masks arrive as [H, W], [B, H, W] or [B, 1, H, W] and at any resolution (the sampler resizes them);
one mask may serve the whole batch. These helpers give them one shape and check them loudly.
"""

from __future__ import annotations

from typing import Any

import torch


def as_mask_batch(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """`mask` as float [B, 1, H, W]; a view when it already has that shape."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name} must be a mask tensor, got {type(mask).__name__}.")
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask[:, None]
    elif mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(
            f"{name} must be [height, width], [batch, height, width] or [batch, 1, height, width]; "
            f"got shape {list(mask.shape)}."
        )
    if mask.shape[-1] == 0 or mask.shape[-2] == 0:
        raise ValueError(f"{name} is empty (shape {list(mask.shape)}).")
    return mask.float()


def mask_for_batch(mask: torch.Tensor, batch: int, name: str = "noise_mask") -> torch.Tensor:
    """A [1 or B, 1, H, W] mask as [B, 1, H, W]: one mask serves every image, else one per image."""
    if mask.shape[0] == batch:
        return mask
    if mask.shape[0] == 1:
        return mask.expand(batch, -1, -1, -1)
    raise ValueError(
        f"{name} has {mask.shape[0]} masks for a batch of {batch} latents; give one mask or one per latent."
    )


def batch_indices(latent: dict[str, Any]) -> list[int] | None:
    """The latent's "batch_index" (each image's position in the batch it came from), checked."""
    indices = latent.get("batch_index")
    if indices is None:
        return None
    batch = latent["samples"].shape[0]
    if len(indices) != batch or any(not isinstance(i, int) or i < 0 for i in indices):
        raise ValueError(
            f"batch_index must list one non-negative index per latent ({batch}), got {list(indices)!r}."
        )
    return list(indices)
