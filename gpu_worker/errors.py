"""What a node's exception tells the caller: a stable error type and a safe one-line message.

Classified by exception class wherever one exists; torch reports running out of
CPU memory and shape mismatches as plain RuntimeErrors, so those are told by
the fixed wording of torch's own messages. Nothing from an internal path,
address or bucket reaches the caller: such errors get a generic message and
the full story goes to the worker log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpu_worker.context import UnknownFile
from nodes.llm_remote.chat import LlmEndpointFailed
from nodes.model_store import ModelNotFound
from protocol.errors import ERROR_TYPES

GENERIC_MESSAGE = "The node failed inside the worker; the details are in the worker's log."

_CPU_ALLOCATION = re.compile(r"can't allocate memory: you tried to allocate (\d+) bytes")
_CUDA_ALLOCATION = re.compile(r"Tried to allocate ([\d.]+) ([KMGTP]?i?B)")
_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}
# torch's wording when tensors of incompatible shapes meet: on a node's inputs, nearly always models of
# different families (SDXL conditioning into an SD1.5 UNet, a LoRA or ControlNet for another base).
_SHAPE_MISMATCH = (
    re.compile(
        r"The size of tensor a \(\d+\) must match the size of tensor b \(\d+\) at non-singleton dimension \d+"
    ),
    re.compile(r"mat1 and mat2 shapes cannot be multiplied \(\d+x\d+ and \d+x\d+\)"),
    re.compile(r"expected input\[[\d, ]+\] to have \d+ channels, but got \d+ channels instead"),
    re.compile(r"shape '\[[-\d, ]+\]' is invalid for input of size \d+"),
    re.compile(r"Sizes of tensors must match except in dimension \d+\. Expected size \d+ but got size \d+"),
)


@dataclass(frozen=True)
class PublicError:
    type: str
    message: str
    requested_bytes: int | None = None  # out_of_memory: the allocation that failed, when torch said

    def __post_init__(self) -> None:
        if self.type not in ERROR_TYPES:
            raise ValueError(f"error type {self.type!r} is not in protocol.errors.ERROR_TYPES")


def public_error(exc: BaseException) -> PublicError:
    """The caller's view of a node's exception."""
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return PublicError("timeout", "The execution ran past its time limit.")
    if isinstance(exc, ModelNotFound):
        return PublicError("model_not_found", _first_line(exc))
    if isinstance(exc, UnknownFile):
        return PublicError("file_not_found", _first_line(exc))
    if isinstance(exc, LlmEndpointFailed):
        return PublicError(exc.error_type, _first_line(exc))
    if is_out_of_memory(exc):
        requested = requested_bytes(exc)
        tried = f" trying to allocate {format_bytes(requested)}" if requested else ""
        return PublicError(
            "out_of_memory",
            f"The worker ran out of memory{tried}; use smaller images, smaller batches or fewer upscales.",
            requested,
        )
    mismatch = shape_mismatch(exc)
    if mismatch:
        return PublicError(
            "model_mismatch",
            f"The node's inputs do not fit together ({mismatch}): usually models of different families, "
            "such as SDXL conditioning with an SD 1.5 model, or a LoRA, ControlNet or VAE made for another "
            "base model.",
        )
    if isinstance(exc, (ValueError, TypeError)) and not isinstance(exc, OSError):
        return PublicError("invalid_node_input", _first_line(exc))
    return PublicError("node_error", GENERIC_MESSAGE)


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and (
        "DefaultCPUAllocator: can't allocate memory" in str(exc) or "CUDA out of memory" in str(exc)
    )


def requested_bytes(exc: BaseException) -> int | None:
    text = str(exc)
    cpu = _CPU_ALLOCATION.search(text)
    if cpu:
        return int(cpu.group(1))
    cuda = _CUDA_ALLOCATION.search(text)
    if cuda and cuda.group(2) in _UNITS:
        return int(float(cuda.group(1)) * _UNITS[cuda.group(2)])
    return None


def shape_mismatch(exc: BaseException) -> str | None:
    """torch's own words for a shape mismatch (shapes only, nothing internal), else None."""
    if not isinstance(exc, RuntimeError):
        return None
    for pattern in _SHAPE_MISMATCH:
        found = pattern.search(str(exc))
        if found:
            return found.group(0)
    return None


def format_bytes(size: int) -> str:
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.1f} {unit}"
    return f"{size} bytes"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:500]
