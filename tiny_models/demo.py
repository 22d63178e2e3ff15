"""Makes sure the demo models exist: ``python -m tiny_models.demo MODELS_DIR`` (``make run`` calls it).

One tiny random-weight model per family the examples in docs/examples/ use (SD 1.5, SDXL, a LoRA
and a ControlNet for the SD 1.5 one, an ESRGAN upscaler, a U²-Net background remover, FLUX.1 dev,
Stable Video Diffusion, a Llama LLM and a BLIP captioner), each written by the tiny-model command
(tiny_models/registry.py) in its real on-disk format, so a fresh install runs every example offline.
Every name starts with ``crucible-demo-tiny-random-``: their images are noise. Put real models beside
them (README "Real models"); a demo file that is already there is left as it is.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

PREFIX = "crucible-demo-tiny-random-"
DEMO_NAME = PREFIX + "sd15"
DEMO_SDXL = PREFIX + "sdxl"
DEMO_LORA = PREFIX + "sd15-lora.safetensors"
DEMO_CONTROLNET = PREFIX + "sd15-controlnet.safetensors"
DEMO_UPSCALER = PREFIX + "4x-esrgan.safetensors"
DEMO_BACKGROUND_REMOVAL = PREFIX + "u2net.onnx"  # "u2net" in the name: the family is read from it
DEMO_FLUX = PREFIX + "flux1-dev.safetensors"
DEMO_SVD = PREFIX + "svd.safetensors"
DEMO_LLM = PREFIX + "llama"  # Hugging Face folders (docs/llm.md)
DEMO_VLM = PREFIX + "blip"


@dataclass(frozen=True)
class DemoModel:
    folder: str  # the model store folder (MODELS_DIR/<folder>/)
    name: str  # what a graph's loader input names
    family: str  # the tiny-model command's FAMILY and FORMAT
    format: str
    base: str | None = None  # a LoRA's or ControlNet's checkpoint: a demo checkpoint's name

    def path(self, models_dir: Path) -> Path:
        return models_dir / self.folder / self.name


#: Every demo model, in the order they are written (a base before what is built for it).
DEMO_MODELS: tuple[DemoModel, ...] = (
    DemoModel("checkpoints", DEMO_NAME, "sd15", "diffusers"),
    DemoModel("checkpoints", DEMO_SDXL, "sdxl", "diffusers"),
    DemoModel("loras", DEMO_LORA, "sd15-lora", "kohya-ldm", base=DEMO_NAME),
    DemoModel("controlnet", DEMO_CONTROLNET, "sd15-controlnet", "single-file", base=DEMO_NAME),
    DemoModel("upscale_models", DEMO_UPSCALER, "esrgan", "basicsr"),
    DemoModel("background_removal", DEMO_BACKGROUND_REMOVAL, "u2net", "onnx"),
    DemoModel("checkpoints", DEMO_FLUX, "flux-dev", "checkpoint"),
    DemoModel("checkpoints", DEMO_SVD, "svd", "sgm"),
    DemoModel("llm", DEMO_LLM, "llama", "transformers"),
    DemoModel("vlm", DEMO_VLM, "blip", "transformers"),
)


def demo_choices() -> dict[str, list[str]]:
    """The model store's lists as a fresh `make run` has them: folder -> names (for validating examples)."""
    choices: dict[str, list[str]] = {}
    for model in DEMO_MODELS:
        choices.setdefault(model.folder, []).append(model.name)
    return {folder: sorted(names) for folder, names in choices.items()}


def ensure_demo_models(models_dir: Path) -> list[Path]:
    """Write each demo model that is not there yet; the paths of all of them."""
    from tiny_models.registry import WRITERS

    paths = []
    for model in DEMO_MODELS:
        target = model.path(models_dir)
        if not _present(target):
            base = models_dir / "checkpoints" / model.base if model.base else None
            WRITERS[(model.family, model.format)].write(target, 0, base)
        paths.append(target)
    return paths


def _present(target: Path) -> bool:
    # A diffusers folder is whole once its model_index.json is written (the writer puts it in last), a
    # Hugging Face folder once its tokenizer_config.json is (written after the weights).
    if target.suffix:
        return target.is_file()
    return (target / "model_index.json").is_file() or (target / "tokenizer_config.json").is_file()


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "models")
    for path in ensure_demo_models(root):
        print(f"demo model (random weights): {path}")
