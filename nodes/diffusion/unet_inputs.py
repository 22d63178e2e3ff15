"""Per-family extra UNet inputs built from one conditioning entry's extras (SDXL's pooled text and sizes)."""

from __future__ import annotations

from typing import Any


def unet_kwargs(
    model: Any, extras: dict[str, Any], *, batch: int, latent_hw: tuple[int, int]
) -> dict[str, Any]:
    """Keyword arguments for ``unet(...)`` beyond the sample, timestep and text context.

    Tensors in the result have `batch` rows; the caller moves them to the device.
    """
    if model.family == "sd15":
        return {}
    raise ValueError(f"Model family {model.family!r} cannot be sampled yet.")
