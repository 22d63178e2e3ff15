"""Reads the tensor table of a pickled weights file (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) without torch
and without running code.

``torch.save`` writes a zip whose ``*/data.pkl`` pickle names every tensor and points at its bytes in
other members (older files: one stream of pickles followed by the bytes). This module unpickles only
that small table, with an unpickler that builds nothing but plain containers and a stand-in for each
tensor (its shape): every global outside the short list torch's own ``weights_only`` loader allows is
refused, so the api can list a file's family, and refuse a file that needs code, before a worker ever
calls ``torch.load(weights_only=True)`` on it. Tensor bytes are never read.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PICKLED_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
_MAX_TABLE_BYTES = 64 * 2**20  # SD1.5's data.pkl is ~100 KB; a table this big is not a weights file
_memo: dict[tuple[str, int, int], PickleScan] = {}


@dataclass(frozen=True)
class PickleScan:
    """{tensor name: {"shape": [...]}} (the ``state_dict`` wrapper undone), or why it cannot load."""

    tensors: dict[str, dict[str, Any]]
    refusal: str | None = None


class NeedsCode(pickle.UnpicklingError):
    """The pickle names a global that only code could build."""


@dataclass
class _Tensor:
    shape: list[int]

    def __setstate__(self, state: Any) -> None:  # BUILD on a rebuilt tensor: nothing to keep
        return None


class _Stub:
    """A dtype, storage type, device or layout: only its existence matters here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __call__(self, *args: Any, **kwargs: Any) -> _Stub:
        return _Stub(*args)

    def __setstate__(self, state: Any) -> None:
        return None


def _rebuild_tensor(storage: Any, offset: Any, size: Any, *args: Any) -> _Tensor:
    return _Tensor([int(n) for n in size] if isinstance(size, (tuple, list)) else [])


def _rebuild_parameter(data: Any, *args: Any) -> Any:
    return data


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    return func(*args)


def _allowed(module: str, name: str) -> Any:
    """What torch's weights-only unpickler allows (torch/_weights_only_unpickler.py), as stand-ins."""
    plain = {
        ("collections", "OrderedDict"): OrderedDict,
        ("collections", "Counter"): Counter,
        ("builtins", "set"): set,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex,
        ("_codecs", "encode"): lambda text, encoding="latin1": str(text).encode(encoding),
        ("torch", "Size"): tuple,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    }
    if (module, name) in plain:
        return plain[(module, name)]
    if module == "torch._utils" and name.startswith("_rebuild_") and "tensor" in name:
        return _rebuild_tensor
    if module in ("torch", "torch.serialization", "torch.storage", "torch.cuda") and (
        name.endswith(("Storage", "Tensor"))
        or name in ("device", "_get_layout", "Tensor")
        or name.startswith(("float", "int", "uint", "bfloat", "bool", "complex", "half", "per_", "qint"))
        or name.startswith(("quint", "double", "long", "short", "cfloat", "cdouble", "chalf"))
    ):
        return _Stub()
    if module == "torch.nn.parameter" and name == "Parameter":
        return _rebuild_parameter
    raise NeedsCode(f"{module}.{name}")


class _TableUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return _allowed(module, name)

    def persistent_load(self, pid: Any) -> Any:
        return _Stub(pid)


def scan_pickled(path: Path) -> PickleScan:
    """The tensor table of a pickled weights file, memoised per (path, mtime, size)."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _memo:
        if len(_memo) > 10_000:
            _memo.clear()
        _memo[key] = _scan(path)
    return _memo[key]


def _scan(path: Path) -> PickleScan:
    try:
        table = _read_table(path)
    except NeedsCode as exc:
        return PickleScan(
            {},
            f"a pickle that needs {exc} to load, which would run code: only plain tensors load "
            "(re-save it as a state dict, or convert it to .safetensors)",
        )
    except Exception as exc:  # a truncated or foreign file breaks the unpickler in many ways
        why = f"not a readable torch weights file ({type(exc).__name__}); convert it to .safetensors"
        return PickleScan({}, why)
    return PickleScan(_tensor_names(table))


def _read_table(path: Path) -> Any:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if i.filename.endswith("data.pkl")]
            if not members:
                raise ValueError("no data.pkl in the archive")
            member = min(members, key=lambda i: i.filename.count("/"))
            if member.file_size > _MAX_TABLE_BYTES:
                raise ValueError("tensor table too large")
            return _TableUnpickler(io.BytesIO(archive.read(member))).load()
    with open(path, "rb") as file:
        return _read_legacy(file)


def _read_legacy(file: IO[bytes]) -> Any:
    """torch's format before 1.6: magic number, protocol, sys info, then the table, then the bytes."""
    if os.fstat(file.fileno()).st_size < 16:
        raise ValueError("too short")
    for _ in range(3):
        _TableUnpickler(file).load()
    return _TableUnpickler(file).load()


def _tensor_names(table: Any) -> dict[str, dict[str, Any]]:
    state = unwrap_state_dict(table)
    if not isinstance(state, dict):
        return {}
    return {k: {"shape": v.shape} for k, v in state.items() if isinstance(k, str) and isinstance(v, _Tensor)}


# Wrappers around the state dict: training checkpoints (Lightning), BasicSR/Real-ESRGAN releases.
_WRAPPERS = ("state_dict", "params_ema", "params")


def unwrap_state_dict(data: Any) -> Any:
    """``{"state_dict": {...}, "global_step": ...}`` (or ``params_ema``/``params``) -> the state dict."""
    if isinstance(data, dict):
        for key in _WRAPPERS:
            if isinstance(data.get(key), dict):
                return data[key]
    return data
