"""Opens a background-removal ONNX graph as an onnxruntime session: data only, never code.

An ONNX file is a graph of standard operators and its weights. Nothing in it runs as Python: the
session registers no custom-operator library (the one way an ONNX model could bring native code),
and nothing else in the model's folder is read but the graph's own external weight files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.background.families import Family, Signature, UnknownModel, detect_family

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class BackgroundRemovalModel:
    """A BACKGROUND_REMOVAL value: the session, the family it runs as, and what the graph declares."""

    session: Any  # onnxruntime.InferenceSession
    family: Family
    signature: Signature
    name: str
    providers: tuple[str, ...]
    size_bytes: int

    @property
    def model_cache_bytes(self) -> int:
        """What the model cache counts for it: the weights (the graph's file and its external data)."""
        return self.size_bytes


def load_background_removal_model(path: Path, name: str, device: str) -> BackgroundRemovalModel:
    """Open `path` (listed as `name` in background_removal/) on `device` and detect its family."""
    import onnxruntime as ort

    if path.is_dir() or path.suffix.lower() != ".onnx":
        raise UnknownModel(
            f"Background removal model {name!r} is not an .onnx file; this worker runs ONNX exports "
            "(rembg's u2net.onnx, isnet-general-use.onnx, BiRefNet and BRIA RMBG model.onnx)."
        )
    providers = execution_providers(device, ort.get_available_providers())
    options = ort.SessionOptions()
    options.log_severity_level = 3  # onnxruntime's own warnings (unused initialisers ...) stay out of logs
    try:
        session = ort.InferenceSession(
            str(path),
            sess_options=options,
            providers=[(p, cuda_provider_options(device)) if p == CUDA else p for p in providers],
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise UnknownModel(
            f"Background removal model {name!r} does not open as an ONNX graph: {_first_line(exc)}"
        ) from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs)
        raise UnknownModel(
            f"Background removal model {name!r} takes {len(inputs)} inputs ({names}); expected one image."
        )
    signature = Signature(
        input_name=inputs[0].name,
        input_shape=tuple(d if isinstance(d, int) and d > 0 else None for d in inputs[0].shape),
        input_type=inputs[0].type,
        outputs=len(session.get_outputs()),
    )
    family = detect_family(name, signature)
    return BackgroundRemovalModel(
        session=session,
        family=family,
        signature=signature,
        name=name,
        providers=tuple(session.get_providers()),
        size_bytes=_weights_bytes(path),
    )


def execution_providers(device: str, available: list[str]) -> tuple[str, ...]:
    """CUDA first on a CUDA worker (falling back to the CPU only for operators CUDA lacks), else the CPU."""
    if not device.startswith("cuda"):
        return (CPU,)
    if CUDA not in available:
        raise RuntimeError(
            f"This worker runs on {device}, but its onnxruntime has no CUDA provider (it has "
            f"{', '.join(available)}): install onnxruntime-gpu in place of onnxruntime "
            "(requirements/gpu.txt)."
        )
    return (CUDA, CPU)


def cuda_provider_options(device: str) -> dict[str, Any]:
    """The device id of "cuda:N" for the CUDA provider."""
    _, _, index = device.partition(":")
    return {"device_id": int(index) if index.isdigit() else 0}


def _weights_bytes(path: Path) -> int:
    """The graph file plus external weight files beside it that name it (model.onnx + model.onnx.data)."""
    total = path.stat().st_size
    for sibling in path.parent.glob(f"{path.name}*"):
        if sibling != path and sibling.is_file():
            total += sibling.stat().st_size
    return total


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
