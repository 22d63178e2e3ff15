"""What every single-file loader needs: safe reading, the sidecar config folder, the weights' dtype.

Shared by the checkpoint (SD 1.x, SDXL), VAE and ControlNet loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_safetensors(path: Path, what: str = "Model") -> dict[str, Any]:
    """The tensors of a ``.safetensors`` file. Only that format: a .ckpt/.pth is a pickle, and
    unpickling a file from the store could run code."""
    if path.suffix != ".safetensors":
        raise ValueError(f"{what} {path.name!r}: only .safetensors single files load (got {path.suffix}).")
    from safetensors.torch import load_file

    return load_file(str(path))


def sidecar_or(path: Path, shipped: Path, *, needs: str | None = None) -> Path:
    """The sidecar folder ``NAME.config/`` next to ``NAME.safetensors`` when there is one (holding
    `needs`, if given), else the `shipped` config folder."""
    sidecar = path.with_suffix(".config")
    if sidecar.is_dir() and (needs is None or (sidecar / needs).is_file()):
        return sidecar
    return shipped


def weights_dtype(device: str) -> Any:
    """float16 on a GPU, float32 on the CPU (where float16 matmuls are slow or missing)."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32
