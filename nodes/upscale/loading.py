"""Loads an upscale model from the model store through spandrel, weights only, offline."""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class UpscaleModel:
    """An UPSCALE_MODEL: the torch module (counted by the model cache) and spandrel's descriptor."""

    module: torch.nn.Module
    descriptor: Any  # spandrel.ImageModelDescriptor, called on [B, C, H, W] in 0..1
    architecture: str
    scale: int
    input_channels: int
    output_channels: int
    name: str


def load_upscale_model(path: Path, device: str) -> UpscaleModel:
    """Detect the architecture of a state dict with spandrel; only image-to-image models pass."""
    spandrel = import_spandrel()
    state_dict = spandrel.canonicalize_state_dict(read_state_dict(path))
    try:
        descriptor = spandrel.ModelLoader(device="cpu").load_from_state_dict(state_dict)
    except spandrel.UnsupportedModelError:
        raise ValueError(
            f"Upscale model {path.name!r}: spandrel recognises no architecture in this state dict; "
            "use an ESRGAN-family (or other spandrel-supported) super-resolution model."
        ) from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ValueError(
            f"Upscale model {path.name!r} is a {descriptor.architecture.name} model "
            f"({type(descriptor).__name__}), not an image-to-image upscale model."
        )
    descriptor.float().eval().to(torch.device(device))
    return UpscaleModel(
        module=descriptor.model,
        descriptor=descriptor,
        architecture=descriptor.architecture.name,
        scale=int(descriptor.scale),
        input_channels=int(descriptor.input_channels),
        output_channels=int(descriptor.output_channels),
        name=path.name,
    )


def read_state_dict(path: Path) -> dict[str, Any]:
    """The file's tensors (nodes/weights_file.py): spandrel only ever sees this dict, never the file,
    so it never unpickles anything itself."""
    from nodes.weights_file import read_weights

    return read_weights(path, "Upscale model")


def import_spandrel() -> types.ModuleType:
    """spandrel, importable where torchvision is not installed.

    spandrel imports torchvision at module level for exactly two architectures (LaMa
    inpainting and RestoreFormer face restoration). The CPU install has no torchvision: PyPI's
    build is CUDA-only and fails to import beside the CPU torch (requirements/worker.txt). When
    it is missing, a stand-in answers those imports while spandrel loads and is removed right
    after, so nothing else sees it; calling into it raises. GPU workers install the real one.
    """
    if "spandrel" not in sys.modules and importlib.util.find_spec("torchvision") is None:
        stand_ins = {name: _MissingTorchvision(name) for name in _TORCHVISION_MODULES}
        sys.modules.update(stand_ins)
        try:
            import spandrel
        finally:
            for name, module in stand_ins.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
        return spandrel
    import spandrel

    return spandrel


_TORCHVISION_MODULES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


class _MissingTorchvision(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)

        def missing(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(
                f"This model's architecture needs torchvision ({self.__name__}.{attr}), which this "
                "worker does not have: install requirements/gpu.txt (torchvision with a matching torch)."
            )

        return missing
