"""Tiny background-removal ONNX models for the test model store (background_removal/), under the names
rembg and BRIA publish them, and the graph that uses them. The weights are random."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# file name in background_removal/ -> the tiny_models.background family written there
BACKGROUND_MODELS = {
    "u2net.onnx": "u2net",
    "u2netp.onnx": "u2netp",
    "isnet-general-use.onnx": "isnet",
    "BiRefNet-general-epoch_244.onnx": "birefnet",
    "RMBG-1.4/model.onnx": "rmbg14",
    "RMBG-2.0/onnx/model.onnx": "rmbg2",
}
U2NET = "u2net.onnx"
# ComfyUI's own BiRefNet file is a torch state dict: listed, and refused as not loadable here.
COMFY_BIREFNET = "birefnet.safetensors"


def write_background_models(root: Path) -> None:
    """Write every tiny family under ``root/background_removal`` (called by the models_dir fixture)."""
    import torch
    from safetensors.torch import save_file

    from tiny_models.background import write_tiny_background_model

    folder = root / "background_removal"
    for seed, (name, family) in enumerate(BACKGROUND_MODELS.items()):
        write_tiny_background_model(folder / name, family=family, seed=seed)
    save_file({"bb.layers.0.weight": torch.zeros(2, 2)}, folder / COMFY_BIREFNET)


def remove_background_graph(image: str, model: str = U2NET, threshold: float | None = None) -> dict[str, Any]:
    """LoadImage -> LoadBackgroundRemovalModel -> RemoveBackground: its RGBA image to SaveImage, and
    ComfyUI's own way (the mask inverted and joined as alpha) to a second SaveImage."""
    remove: dict[str, Any] = {"bg_removal_model": ["2", 0], "image": ["1", 0]}
    if threshold is not None:
        remove["threshold"] = threshold
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "LoadBackgroundRemovalModel", "inputs": {"bg_removal_name": model}},
        "3": {"class_type": "RemoveBackground", "inputs": remove},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 1], "filename_prefix": "cutout"}},
        "5": {"class_type": "InvertMask", "inputs": {"mask": ["3", 0]}},
        "6": {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["1", 0], "alpha": ["5", 0]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "joined"}},
    }
