"""Makes sure the demo models exist: ``python -m tiny_models.demo MODELS_DIR`` (``make run`` calls it).

A tiny random-weight SD 1.5 model in the real diffusers layout and a tiny
U²-Net ONNX graph, so a fresh install can run text-to-image and background
removal end to end without downloading anything. Their images are noise; put
real models into MODELS_DIR/checkpoints and MODELS_DIR/background_removal.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEMO_NAME = "crucible-demo-tiny-random-sd15"


def ensure_demo_checkpoint(models_dir: Path) -> Path:
    target = models_dir / "checkpoints" / DEMO_NAME
    if not (target / "model_index.json").is_file():
        from tiny_models.sd15 import write_tiny_sd15_diffusers

        write_tiny_sd15_diffusers(target, seed=0)
    return target


DEMO_BACKGROUND_REMOVAL = "crucible-demo-tiny-random-u2net.onnx"


def ensure_demo_background_removal(models_dir: Path) -> Path:
    """A tiny random U²-Net (rembg's u2net.onnx signature) for LoadBackgroundRemovalModel: its masks
    are noise; put real .onnx files (docs/nodes.md#background-removal) into MODELS_DIR/background_removal."""
    target = models_dir / "background_removal" / DEMO_BACKGROUND_REMOVAL
    if not target.is_file():
        from tiny_models.background import write_tiny_background_model

        write_tiny_background_model(target, family="u2net", seed=0)
    return target


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "models")
    print(f"demo checkpoint: {ensure_demo_checkpoint(root)}")
    print(f"demo background remover: {ensure_demo_background_removal(root)}")
