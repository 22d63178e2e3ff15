"""The tiny Wan 2.1 files of the test model store, under the names ComfyUI's Wan examples load, and
those examples as ComfyUI's "Export (API)" writes them (tests/e2e/comfyui_workflows/wan/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WAN_WORKFLOWS = Path(__file__).resolve().parents[1] / "e2e" / "comfyui_workflows" / "wan"


def write_wan_models(root: Path) -> None:
    from tiny_models.wan import write_tiny_wan_store

    write_tiny_wan_store(root, seed=0)


def wan_workflow(name: str) -> dict[str, Any]:
    return json.loads((WAN_WORKFLOWS / f"{name}.json").read_text())
