"""Lists the models under MODELS_DIR in ComfyUI's folder layout. No torch.

Both the api (combo choices, GET /v1/models) and the gpu worker (loading)
read the same store, a shared folder or volume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from nodes.model_family import model_family

FOLDERS = ("checkpoints", "loras", "vae", "controlnet", "upscale_models")
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


@dataclass(frozen=True)
class ModelEntry:
    folder: str
    name: str
    path: Path
    format: str  # "diffusers" (a folder) or "single_file"
    size_bytes: int
    family: str = "unknown"  # "sd15", "sdxl", "sd_vae", "esrgan" ... (nodes/model_family.py)

    def to_public(self) -> dict[str, object]:
        return {
            "folder": self.folder,
            "name": self.name,
            "format": self.format,
            "family": self.family,
            "sizeBytes": self.size_bytes,
        }


class ModelNotFound(LookupError):
    pass


class ModelStore:
    """Scans on demand, with a short memo so a burst of validations scans once."""

    def __init__(self, root: Path, *, ttl_seconds: float = 5.0) -> None:
        self.root = root
        self._ttl = ttl_seconds
        self._memo: tuple[float, dict[str, list[ModelEntry]]] | None = None

    def entries(self, folder: str) -> list[ModelEntry]:
        now = time.monotonic()
        if self._memo is None or now - self._memo[0] > self._ttl:
            self._memo = (now, {name: self._scan(name) for name in FOLDERS})
        return self._memo[1].get(folder, [])

    def names(self, folder: str) -> list[str]:
        return [entry.name for entry in self.entries(folder)]

    def path(self, folder: str, name: str) -> Path:
        # Only names the scan itself produced resolve, so "../x" can never escape the store.
        for entry in self._scan(folder):
            if entry.name == name:
                return entry.path
        raise ModelNotFound(f"Model {name!r} is not in {folder}/ under the model store.")

    def _scan(self, folder: str) -> list[ModelEntry]:
        base = self.root / folder
        if not base.is_dir():
            return []
        found: list[ModelEntry] = []
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base).as_posix()
            if _inside_diffusers_folder(path, base):
                continue  # a component folder or weight file of a listed diffusers folder
            if path.is_dir() and _is_diffusers_folder(path):
                size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
                found.append(ModelEntry(folder, rel, path, "diffusers", size, model_family(path)))
            elif path.is_file() and path.suffix in WEIGHT_SUFFIXES:
                size = path.stat().st_size
                found.append(ModelEntry(folder, rel, path, "single_file", size, model_family(path)))
        return found


def _inside_diffusers_folder(path: Path, base: Path) -> bool:
    for parent in path.parents:
        if parent == base:
            return False
        if _is_diffusers_folder(parent):
            return True
    return False


def _is_diffusers_folder(path: Path) -> bool:
    """A whole pipeline (model_index.json) or one component with its weights (a VAE in vae/).

    A single file's sidecar ``NAME.config/`` holds configs without weights, so it is not listed.
    """
    if (path / "model_index.json").is_file():
        return True
    return (path / "config.json").is_file() and any(path.glob("diffusion_pytorch_model.*"))
