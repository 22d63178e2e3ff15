"""Reads one weights file from the model store: the reader every single-file loader uses.

``.safetensors`` holds tensors only. ``.ckpt``/``.pt``/``.pth``/``.bin`` are pickles: they are read
with torch's weights-only unpickler (tensors and plain containers, never code; as ComfyUI does),
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
        tensors = _read_safetensors(path, what)
        return tensors if device == "cpu" else {k: v.to(device) for k, v in tensors.items()}
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


# safetensors' dtype names -> torch's (by name: torch stays unimported until a file is read).
_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


def _read_safetensors(path: Path, what: str) -> dict[str, Any]:
    """Each tensor read straight into its own memory with plain reads, not a memory map: the loaders
    assign these tensors to the modules (no second copy), and a model never points into a file that
    may be replaced under it while it is cached."""
    import torch

    from nodes.model_family import read_safetensors_header

    try:
        header = read_safetensors_header(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path.name!r} is not a readable .safetensors file: {exc}") from None
    tensors: dict[str, Any] = {}
    with open(path, "rb") as file:
        start = 8 + int.from_bytes(file.read(8), "little")
        for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
            if dtype is None:
                raise ValueError(
                    f"{what} {path.name!r}: tensor {name!r} has dtype {info.get('dtype')!r}, unsupported."
                )
            tensor = torch.empty(info["shape"], dtype=getattr(torch, dtype))
            begin, end = info["data_offsets"]
            if end - begin != tensor.numel() * tensor.element_size():
                raise ValueError(
                    f"{what} {path.name!r}: tensor {name!r} has {end - begin} bytes for its shape."
                )
            file.seek(start + begin)
            buffer = tensor.view(-1).view(torch.uint8).numpy().data  # the tensor's own bytes
            if tensor.numel() and file.readinto(buffer) != end - begin:
                raise ValueError(f"{what} {path.name!r} is truncated (tensor {name!r}).")
            tensors[name] = tensor
    return tensors


def _load_pickled(path: Path, what: str) -> Any:
    import torch

    try:
        # Not memory-mapped: each storage is read into memory once (one copy, as with mmap), and a
        # cached model never points into a file that may be overwritten under it (SIGBUS).
        return torch.load(path, map_location="cpu", weights_only=True, mmap=False)
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
