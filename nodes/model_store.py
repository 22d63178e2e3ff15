"""Lists the models under MODELS_DIR in ComfyUI's folder layout. No torch.

Both the api (combo choices, GET /v1/models) and the gpu worker (loading)
read the same store, a shared folder or volume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from nodes.background.families import family_from_name
from nodes.llm import families as llm_families
from nodes.loaders.families import CHECKPOINT_LOADERS, split_file_refusal
from nodes.model_family import model_family
from nodes.pickled_weights import PICKLED_SUFFIXES, scan_pickled

FOLDERS = (
    "checkpoints",
    "loras",
    "vae",
    "controlnet",
    "upscale_models",
    "diffusion_models",
    "text_encoders",
    "background_removal",
    "clip_vision",
    *llm_families.FOLDERS,  # Hugging Face transformers folders (nodes/llm/)
)
# ComfyUI lists its older folder names under the new ones: models/unet/ files appear among the diffusion
# models and models/clip/ among the text encoders. The first folder wins when both hold one name.
FOLDER_DIRS: dict[str, tuple[str, ...]] = {
    "diffusion_models": ("diffusion_models", "unet"),
    "text_encoders": ("text_encoders", "clip"),
}
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
# Folders whose models come in other file types: ONNX graphs (background removal, as rembg ships them).
FOLDER_SUFFIXES = {"background_removal": (".onnx", ".safetensors")}


@dataclass(frozen=True)
class ModelEntry:
    folder: str
    name: str
    path: Path
    format: str  # "diffusers" (a folder), "single_file" or "transformers" (a Hugging Face model folder)
    size_bytes: int
    family: str = "unknown"  # "sd15", "sdxl", "sd_vae", "esrgan" ... (nodes/model_family.py)
    # Why the workers cannot load it (a pickled checkpoint, a family no loader builds), else None.
    refusal: str | None = None

    def to_public(self) -> dict[str, object]:
        data: dict[str, object] = {
            "folder": self.folder,
            "name": self.name,
            "format": self.format,
            "family": self.family,
            "sizeBytes": self.size_bytes,
            "loadable": self.refusal is None,
        }
        if self.refusal is not None:
            data["notLoadableReason"] = self.refusal
        return data


def store_name(name: str) -> str:
    """The store's spelling of a model name: ComfyUI on Windows writes ``Anime\\model.safetensors``
    for ``Anime/model.safetensors``. Only a lookup key: names still resolve only if a scan listed them."""
    return name.replace("\\", "/")


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
            self.refresh()
        assert self._memo is not None
        return self._memo[1].get(folder, [])

    def refresh(self) -> None:
        """Scan again now: a model added since the memo (the api saw it, this process did not yet)."""
        self._memo = (time.monotonic(), {name: self._scan(name) for name in FOLDERS})

    def names(self, folder: str) -> list[str]:
        return [entry.name for entry in self.entries(folder)]

    def refusals(self, folder: str) -> dict[str, str]:
        """name -> why the workers cannot load it, for the listed models that would fail at run time."""
        return {entry.name: entry.refusal for entry in self.entries(folder) if entry.refusal is not None}

    def path(self, folder: str, name: str) -> Path:
        # Only names the scan itself produced resolve, so "../x" (or "..\\x") can never escape the store.
        wanted = store_name(name)
        for entry in self._scan(folder):
            if entry.name == wanted:
                return entry.path
        raise ModelNotFound(f"Model {name!r} is not in {folder}/ under the model store.")

    def _scan(self, folder: str) -> list[ModelEntry]:
        found: list[ModelEntry] = []
        for directory in FOLDER_DIRS.get(folder, (folder,)):
            seen = {entry.name for entry in found}
            found += [e for e in self._scan_dir(folder, self.root / directory) if e.name not in seen]
        return found

    def _scan_dir(self, folder: str, base: Path) -> list[ModelEntry]:
        if not base.is_dir():
            return []
        if folder in llm_families.FOLDERS:
            return [
                ModelEntry(folder, f.name, f.path, "transformers", f.size_bytes, f.family, f.refusal)
                for f in llm_families.scan(base, folder)
            ]
        found: list[ModelEntry] = []
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base).as_posix()
            if _inside_diffusers_folder(path, base):
                continue  # a component folder or weight file of a listed diffusers folder
            if path.is_dir() and _is_diffusers_folder(path):
                size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
                kind = "diffusers"
            elif path.is_file() and path.suffix in FOLDER_SUFFIXES.get(folder, WEIGHT_SUFFIXES):
                size = path.stat().st_size
                kind = "single_file"
            else:
                continue
            if folder == "background_removal":
                # From the name (u2net, isnet, birefnet, rmbg14, rmbg2); the graph is checked on load.
                family = family_from_name(rel) or "unknown"
            else:
                family = model_family(path)
            refusal = load_refusal(folder, path, kind, family)
            found.append(ModelEntry(folder, rel, path, kind, size, family, refusal))
        return found


def file_identity(path: Path) -> tuple[int, int, int]:
    """What changes when a model's bytes are replaced under the same name: (size, newest mtime_ns,
    file count); a folder's is over all its files. Caches key a model file on its path and this."""
    if not path.is_dir():
        stat = path.stat()
        return (stat.st_size, stat.st_mtime_ns, 1)
    size = newest = count = 0
    for file in path.rglob("*"):
        if file.is_file():
            stat = file.stat()
            size, newest, count = size + stat.st_size, max(newest, stat.st_mtime_ns), count + 1
    return (size, newest, count)


def load_refusal(folder: str, path: Path, kind: str, family: str) -> str | None:
    """Why the workers' loaders would refuse this listed model, decided without torch; None if it loads
    (or may: a file can still be broken inside, which only loading finds)."""
    if kind == "single_file" and path.suffix.lower() in PICKLED_SUFFIXES:
        refusal = scan_pickled(path).refusal  # a pickle that needs code, or no torch file at all
        if refusal is not None:
            return refusal
    if folder == "checkpoints":
        if kind == "single_file" and family not in (
            "sd15",
            "sd2",
            "sdxl",
            "sdxl_refiner",
            "svd",
            *CHECKPOINT_LOADERS,
        ):
            return (
                "not an SD 1.x, SD 2.x, SDXL, SDXL refiner, FLUX.1 or Stable Video Diffusion checkpoint in "
                "the single-file layout"
            )
    elif folder == "loras":
        if kind != "single_file":
            return "a folder: a LoRA is one weights file"
    elif folder == "upscale_models" and kind != "single_file":
        return "a folder: an upscale model is one weights file"
    elif folder == "background_removal" and path.suffix != ".onnx":
        return (
            f"a {path.suffix} file (ComfyUI's own BiRefNet port): background removal runs ONNX exports; use "
            "BiRefNet's .onnx export (rembg's BiRefNet-general-epoch_244.onnx) or another listed family"
        )
    elif folder in ("diffusion_models", "text_encoders"):
        return split_file_refusal(folder, path, kind, family)
    return None


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
