"""Makes sure the demo checkpoint exists: ``python -m tiny_models.demo MODELS_DIR`` (``make run`` calls it).

It is a tiny random-weight SD 1.5 model in the real diffusers layout, so a
fresh install can run a workflow end to end without downloading anything.
Its images are noise; put a real checkpoint into MODELS_DIR/checkpoints.
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


if __name__ == "__main__":
    path = ensure_demo_checkpoint(Path(sys.argv[1] if len(sys.argv) > 1 else "models"))
    print(f"demo checkpoint: {path}")
