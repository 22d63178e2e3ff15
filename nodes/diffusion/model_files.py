"""What every single-file loader needs: safe reading (.safetensors or weights-only pickles), the
sidecar config folder, the weights' dtype.

Shared by the checkpoint (SD 1.x, SDXL), VAE and ControlNet loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodes.weights_file import read_weights

__all__ = ["check_unet_width", "read_weights", "sidecar_or", "weights_dtype"]


def sidecar_or(path: Path, shipped: Path, *, needs: str | None = None) -> Path:
    """The sidecar folder ``NAME.config/`` next to ``NAME.safetensors`` (or ``NAME.ckpt``) when there
    is one (holding `needs`, if given), else the `shipped` config folder."""
    sidecar = path.with_suffix(".config")
    if sidecar.is_dir() and (needs is None or (sidecar / needs).is_file()):
        return sidecar
    return shipped


def weights_dtype(device: str) -> Any:
    """float16 on a GPU, float32 on the CPU (where float16 matmuls are slow or missing)."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


UNET_INPUT_KEY = "model.diffusion_model.input_blocks.0.0.weight"


def check_unet_width(path: Path, state: dict[str, Any], config_dir: Path) -> None:
    """Fail fast, before building a full-size UNet for nothing, when the file's UNet is not as wide as
    its configs say (a fine-tune of another size, or a file that needs its own sidecar configs)."""
    import json

    config_file = config_dir / "unet" / "config.json"
    weight = state.get(UNET_INPUT_KEY)
    if weight is None or not config_file.is_file():
        return
    expected = json.loads(config_file.read_text(encoding="utf-8"))["block_out_channels"][0]
    if weight.shape[0] != expected:
        raise ValueError(
            f"Checkpoint {path.name!r} does not match its configs in {config_dir.name}/: its UNet starts "
            f"with {weight.shape[0]} channels, the configs with {expected}. Put the right configs in a "
            f"sidecar folder {path.with_suffix('.config').name}/ next to it."
        )
