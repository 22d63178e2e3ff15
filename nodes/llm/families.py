"""Which Hugging Face model folders the LLM nodes load, decided from the files alone. No torch.

A folder is loadable when transformers builds its model from config.json with its own code
(`trust_remote_code` stays off) and its weights are safetensors. A folder that brings Python
(`auto_map` in its config, `*.py` files beside it) is refused: loading it would run code that came
with the model files, on a worker that holds other tenants' runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LLM_FOLDER = "llm"  # MODELS_DIR/llm/<name>/: causal language models
VLM_FOLDER = "vlm"  # MODELS_DIR/vlm/<name>/: image-to-text (captioning) models
FOLDERS = (LLM_FOLDER, VLM_FOLDER)

# config.json model_type -> label. Causal LMs whose transformers class these are, tested or built from
# the same code (Mistral is Llama's layout; Gemma 3's text model is `gemma3_text`).
LLM_FAMILIES = {
    "llama": "Llama",
    "mistral": "Mistral",
    "qwen2": "Qwen2",
    "qwen3": "Qwen3",
    "gemma": "Gemma",
    "gemma2": "Gemma 2",
    "gemma3_text": "Gemma 3 (text)",
}
VLM_FAMILIES = {
    "blip": "BLIP (BlipForConditionalGeneration)",
    "qwen2_vl": "Qwen2-VL (Qwen2VLForConditionalGeneration)",
}
FAMILIES = {LLM_FOLDER: LLM_FAMILIES, VLM_FOLDER: VLM_FAMILIES}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt")


@dataclass(frozen=True)
class FolderInfo:
    """What the model store lists for one folder under llm/ or vlm/."""

    name: str
    path: Path
    size_bytes: int
    family: str
    refusal: str | None


class UnsupportedModel(ValueError):
    """A model folder the LLM nodes will not load; the message says why and what would load."""


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def scan(base: Path, folder: str) -> list[FolderInfo]:
    """Every model folder (one with a config.json) under `base`, at any depth, not inside another."""
    if not base.is_dir():
        return []
    found: list[FolderInfo] = []
    for path in sorted(p for p in base.rglob("config.json") if p.is_file()):
        model = path.parent
        if any(is_model_folder(parent) for parent in model.parents if base in parent.parents):
            continue  # a sub-folder of a listed model (a vision tower's own config)
        size = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
        family = read_model_type(model) or "unknown"
        found.append(
            FolderInfo(model.relative_to(base).as_posix(), model, size, family, refusal(model, folder))
        )
    return found


def read_model_type(path: Path) -> str | None:
    config = _config(path)
    model_type = config.get("model_type") if config else None
    return model_type if isinstance(model_type, str) else None


def refusal(path: Path, folder: str) -> str | None:
    """Why the worker will not load the folder at `path` from `folder` (llm/ or vlm/); None if it may."""
    config = _config(path)
    if config is None:
        return "config.json is missing or is not a JSON object"
    if "auto_map" in config:
        return (
            "its config.json names code shipped with the model (auto_map): it needs trust_remote_code, "
            "which this platform never enables; use a model that transformers supports natively"
        )
    code = sorted(p.name for p in path.rglob("*.py"))
    if code:
        return (
            f"the folder holds Python files ({', '.join(code[:3])}): models that ship code are refused; "
            "remove them if the model does not need them"
        )
    families = FAMILIES[folder]
    model_type = config.get("model_type")
    if model_type not in families:
        return (
            f"model_type {model_type!r} is not a supported {folder}/ family (supported: "
            f"{', '.join(sorted(families))})"
        )
    if not any(path.glob("*.safetensors")):
        return (
            "no .safetensors weights: pickled weights (pytorch_model.bin) are not loaded; "
            "save the model with safetensors"
        )
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        return f"no tokenizer ({', '.join(_TOKENIZER_FILES)}) in the folder"
    return None


def check_loadable(path: Path, name: str, folder: str) -> None:
    """Raise UnsupportedModel, naming the model, when `refusal` finds a reason."""
    reason = refusal(path, folder)
    if reason is not None:
        raise UnsupportedModel(f"Model {name!r} in {folder}/ cannot be loaded: {reason}.")


def _config(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
