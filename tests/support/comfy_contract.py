"""Where ComfyUI's recorded public contract lives inside the repository (tests/data/comfyui/).

A copy of the recording (object_info, websocket traces, sigma schedules) kept with the tests, so a
clone in any folder runs the whole suite; data only, no ComfyUI code.
"""

from __future__ import annotations

from pathlib import Path

CONTRACT_DIR = Path(__file__).resolve().parents[1] / "data" / "comfyui"
