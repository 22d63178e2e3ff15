"""The tiny SDXL checkpoints of the test model store and ComfyUI's default SDXL workflow for them."""

from __future__ import annotations

import copy
from pathlib import Path

SDXL_CHECKPOINT = "tiny-sdxl"
# The same weights as SDXL_CHECKPOINT, as one .safetensors in the original SGM layout (+ sidecar config).
SDXL_SINGLE_FILE = "tiny-sdxl-single.safetensors"


def write_sdxl_models(root: Path) -> None:
    """Write the tiny SDXL checkpoints into the model store at `root` (conftest's models_dir)."""
    from gpu_worker.tiny_sdxl import write_tiny_sdxl_diffusers, write_tiny_sdxl_single_file

    write_tiny_sdxl_diffusers(root / "checkpoints" / SDXL_CHECKPOINT, seed=0)
    write_tiny_sdxl_single_file(root / "checkpoints" / SDXL_SINGLE_FILE, seed=0)


# ComfyUI's SDXL text-to-image template in API format: CLIPTextEncodeSDXL positive, CLIPTextEncode negative.
_SDXL_TEXT_TO_IMAGE = {
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": SDXL_CHECKPOINT},
        "_meta": {"title": "Load Checkpoint"},
    },
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 2},
        "_meta": {"title": "Empty Latent Image"},
    },
    "6": {
        "class_type": "CLIPTextEncodeSDXL",
        "inputs": {
            "clip": ["4", 1],
            "width": 1024,
            "height": 1024,
            "crop_w": 0,
            "crop_h": 0,
            "target_width": 1024,
            "target_height": 1024,
            "text_g": "a photo of a cat, cinematic",
            "text_l": "a photo of a cat",
        },
        "_meta": {"title": "CLIPTextEncodeSDXL"},
    },
    "7": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "text, watermark", "clip": ["4", 1]},
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 721897303308196,
            "steps": 3,
            "cfg": 7.0,
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
    "8": {
        "class_type": "VAEDecode",
        "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
        "_meta": {"title": "VAE Decode"},
    },
    "9": {
        "class_type": "SaveImage",
        "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        "_meta": {"title": "Save Image"},
    },
}


def sdxl_text_to_image(ckpt_name: str = SDXL_CHECKPOINT, **node_inputs: dict) -> dict:
    """A copy of the SDXL workflow for `ckpt_name`, with some node inputs replaced (as text_to_image)."""
    graph = copy.deepcopy(_SDXL_TEXT_TO_IMAGE)
    graph["4"]["inputs"]["ckpt_name"] = ckpt_name
    for node_id, changes in node_inputs.items():
        graph[node_id]["inputs"].update(changes)
    return graph
