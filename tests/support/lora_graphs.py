"""ComfyUI's LoRA example in API format, and small variants of it for fast comparisons."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tests.support.lora_models import STYLE_LORA

# Exported from ComfyUI_examples/lora with "Export (API)": CheckpointLoaderSimple -> LoraLoader (node 10)
# -> CLIPTextEncode x2 -> KSampler -> VAEDecode -> SaveImage, 512x512, 20 steps.
EXAMPLE = Path(__file__).resolve().parents[1] / "e2e" / "comfyui_workflows" / "lora.json"

# Which node input a run changes (the workflow's named inputs).
LORA_INPUTS = {
    "strength_model": {"node": "10", "input": "strength_model"},
    "strength_clip": {"node": "10", "input": "strength_clip"},
}


def lora_example() -> dict:
    return json.loads(EXAMPLE.read_text())


def small_lora_graph(*, strength_model: float = 1.0, strength_clip: float = 1.0) -> dict:
    """The example at 64x64 and 4 steps (the tiny model gives noise at any size)."""
    graph = lora_example()
    graph["5"]["inputs"].update(width=64, height=64)
    graph["3"]["inputs"]["steps"] = 4
    graph["10"]["inputs"].update(strength_model=strength_model, strength_clip=strength_clip)
    return graph


def without_lora(graph: dict) -> dict:
    """The same graph with the LoRA node taken out: the checkpoint feeds the sampler and the prompts."""
    graph = copy.deepcopy(graph)
    del graph["10"]
    graph["3"]["inputs"]["model"] = ["4", 0]
    graph["6"]["inputs"]["clip"] = graph["7"]["inputs"]["clip"] = ["4", 1]
    return graph


def model_only(graph: dict, lora_name: str, strength: float = 1.0) -> dict:
    """LoraLoaderModelOnly instead of LoraLoader: the prompts see the checkpoint's own CLIP."""
    graph = without_lora(graph)
    graph["11"] = {
        "inputs": {"lora_name": lora_name, "strength_model": strength, "model": ["4", 0]},
        "class_type": "LoraLoaderModelOnly",
        "_meta": {"title": "LoraLoaderModelOnly"},
    }
    graph["3"]["inputs"]["model"] = ["11", 0]
    return graph


def stacked(graph: dict) -> dict:
    """A second LoRA (model only) after the LoraLoader: both apply to the sampler's model."""
    graph = copy.deepcopy(graph)
    graph["11"] = {
        "inputs": {"lora_name": STYLE_LORA, "strength_model": 0.8, "model": ["10", 0]},
        "class_type": "LoraLoaderModelOnly",
        "_meta": {"title": "LoraLoaderModelOnly"},
    }
    graph["3"]["inputs"]["model"] = ["11", 0]
    return graph
