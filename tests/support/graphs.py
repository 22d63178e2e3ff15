"""Workflow graphs in ComfyUI's API format, as ComfyUI exports them."""

from __future__ import annotations

import copy
from typing import Any

TINY_CHECKPOINT = "tiny-sd15"
BROKEN_CHECKPOINT = "broken-sd15"
# The same weights as TINY_CHECKPOINT, as one .safetensors in the original SD layout (+ sidecar config).
SINGLE_FILE_CHECKPOINT = "tiny-sd15-single.safetensors"
TINY_VAE = "tiny-vae.safetensors"

TEXT_TO_IMAGE: dict[str, Any] = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 156680208700286,
            "steps": 4,
            "cfg": 8.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": TINY_CHECKPOINT},
        "_meta": {"title": "Load Checkpoint"},
    },
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo of a cat", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}

TEXT_TO_IMAGE_INPUTS = {
    "prompt": {"node": "6", "input": "text"},
    "seed": {"node": "3", "input": "seed"},
    "width": {"node": "5", "input": "width"},
    "height": {"node": "5", "input": "height"},
    "batch_size": {"node": "5", "input": "batch_size"},
}

IMAGE_TO_IMAGE: dict[str, Any] = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "FILE_ID"}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CHECKPOINT}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a watercolor fox", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "10": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["4", 2]}},
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 7,
            "steps": 4,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 0.6,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["10", 0],
        },
    },
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "img2img", "images": ["8", 0]}},
}


def with_inputs(graph: dict, **node_inputs: Any) -> dict:
    """A deep copy of `graph` with some node inputs replaced: with_inputs(g, **{"3": {"steps": 2}})."""
    graph = copy.deepcopy(graph)
    for node_id, changes in node_inputs.items():
        graph[node_id]["inputs"].update(changes)
    return graph


def text_to_image(**node_inputs: Any) -> dict:
    """A copy of TEXT_TO_IMAGE with some node inputs replaced: text_to_image(**{"3": {"steps": 2}})."""
    return with_inputs(TEXT_TO_IMAGE, **node_inputs)


def single_file_with_clip_skip_and_vae() -> dict:
    """TEXT_TO_IMAGE from a single-file checkpoint, CLIP skip 2 and a VAE from models/vae/."""
    graph = text_to_image(**{"4": {"ckpt_name": SINGLE_FILE_CHECKPOINT}, "3": {"steps": 2}})
    graph["10"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["4", 1], "stop_at_clip_layer": -2}}
    graph["11"] = {"class_type": "VAELoader", "inputs": {"vae_name": TINY_VAE}}
    graph["6"]["inputs"]["clip"] = ["10", 0]
    graph["7"]["inputs"]["clip"] = ["10", 0]
    graph["8"]["inputs"]["vae"] = ["11", 0]
    return graph
