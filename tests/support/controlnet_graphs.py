"""ControlNet workflows in ComfyUI's API format, as its "Export (API)" writes them."""

from __future__ import annotations

import copy

from tests.support.controlnet_models import SINGLE_FILE_CONTROLNET
from tests.support.graphs import TINY_CHECKPOINT

# LoadImage names an upload by its file name, as in ComfyUI's input folder.
HINT_IMAGE = "canny_hint.png"

# ComfyUI's ControlNet example: a hint image through Apply ControlNet onto both prompts.
CONTROLNET_WORKFLOW = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 91,
            "steps": 3,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["12", 0],
            "negative": ["12", 1],
            "latent_image": ["5", 0],
        },
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": TINY_CHECKPOINT},
        "_meta": {"title": "Load Checkpoint"},
    },
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 1},
        "_meta": {"title": "Empty Latent Image"},
    },
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "a photo of a cat", "clip": ["4", 1]},
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "7": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "text, watermark", "clip": ["4", 1]},
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
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
    "10": {
        "class_type": "ControlNetLoader",
        "inputs": {"control_net_name": SINGLE_FILE_CONTROLNET},
        "_meta": {"title": "Load ControlNet Model"},
    },
    "11": {
        "class_type": "LoadImage",
        "inputs": {"image": HINT_IMAGE},
        "_meta": {"title": "Load Image"},
    },
    "12": {
        "class_type": "ControlNetApplyAdvanced",
        "inputs": {
            "strength": 1.0,
            "start_percent": 0.0,
            "end_percent": 1.0,
            "positive": ["6", 0],
            "negative": ["7", 0],
            "control_net": ["10", 0],
            "image": ["11", 0],
        },
        "_meta": {"title": "Apply ControlNet"},
    },
}


def controlnet_workflow(**node_inputs: dict) -> dict:
    """A copy of CONTROLNET_WORKFLOW with some node inputs replaced (as graphs.text_to_image)."""
    graph = copy.deepcopy(CONTROLNET_WORKFLOW)
    for node_id, changes in node_inputs.items():
        graph[node_id]["inputs"].update(changes)
    return graph


def without_control() -> dict:
    """The same workflow with the sampler reading the prompts directly (ControlNet nodes left out)."""
    graph = controlnet_workflow(**{"3": {"positive": ["6", 0], "negative": ["7", 0]}})
    for node_id in ("10", "11", "12"):
        del graph[node_id]
    return graph


def with_old_apply(strength: float = 1.0) -> dict:
    """ControlNetApply (OLD) on the positive prompt only."""
    graph = controlnet_workflow(**{"3": {"positive": ["12", 0], "negative": ["7", 0]}})
    graph["12"] = {
        "class_type": "ControlNetApply",
        "inputs": {
            "conditioning": ["6", 0],
            "control_net": ["10", 0],
            "image": ["11", 0],
            "strength": strength,
        },
        "_meta": {"title": "Apply ControlNet (OLD)"},
    }
    return graph
