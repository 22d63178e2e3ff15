"""Reads one weights file from the model store: the reader every single-file loader uses.

``.safetensors`` holds tensors only. ``.ckpt``/``.pt``/``.pth``/``.bin`` are pickles: they are read
with torch's weights-only unpickler (tensors and plain containers, never code; as ComfyUI does),
memory-mapped where the file is torch's zip format so pages are read as the loaders touch them,
and a training checkpoint's ``{"state_dict": ...}`` wrapper is undone. A pickle that needs anything
more is refused with a message naming the file. torch is imported only when a file is read.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from nodes.pickled_weights import PICKLED_SUFFIXES, unwrap_state_dict

SAFETENSORS = ".safetensors"
WEIGHT_SUFFIXES = (SAFETENSORS, *PICKLED_SUFFIXES)


def read_weights(path: Path, what: str = "Model", *, device: str = "cpu") -> dict[str, Any]:
    """{name: tensor} of a ``.safetensors`` or weights-only pickle; a clear ValueError for anything else."""
    if path.is_dir():
        raise ValueError(f"{what} {path.name!r} is a folder; expected one weights file.")
    suffix = path.suffix.lower()
    if suffix == SAFETENSORS:
        from safetensors.torch import load_file

        return load_file(str(path), device=device)
    if suffix not in PICKLED_SUFFIXES:
        raise ValueError(
            f"{what} {path.name!r}: unsupported file type {suffix!r}; use {', '.join(WEIGHT_SUFFIXES)}."
        )
    state = _load_pickled(path, what)
    tensors = _tensors_of(unwrap_state_dict(state))
    if not tensors:
        raise ValueError(f"{what} {path.name!r} holds no tensors: not a weights file.")
    if device != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors


def _load_pickled(path: Path, what: str) -> Any:
    import torch

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            # A file in torch's format before 1.6 (not a zip) cannot be mapped: read it whole.
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        needs = _refused_global(exc)
        if needs is None:
            raise ValueError(
                f"{what} {path.name!r} is not a readable torch weights file (UnpicklingError); "
                "convert it to .safetensors."
            ) from None
        raise ValueError(
            f"{what} {path.name!r} is a pickle that needs {needs} to load, which would run code; only "
            "plain tensors load. Re-save it as a state dict or convert it to .safetensors."
        ) from None
    except Exception as exc:  # a truncated or foreign file: many types, one meaning
        raise ValueError(
            f"{what} {path.name!r} is not a readable torch weights file ({type(exc).__name__}); "
            "convert it to .safetensors."
        ) from None


def _refused_global(exc: Exception) -> str | None:
    """The global torch's weights-only unpickler refused, from its message; None if it refused none."""
    match = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return match.group(1) if match else None


def _tensors_of(state: Any) -> dict[str, Any]:
    """Only the tensors: training leftovers such as ``global_step`` are not weights."""
    import torch

    if not isinstance(state, dict):
        return {}
    return {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
