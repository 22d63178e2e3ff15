"""ControlNet workflows in ComfyUI's API format, as its "Export (API)" writes them."""

from __future__ import annotations

from typing import Any

from tests.support.controlnet_models import SINGLE_FILE_CONTROLNET
from tests.support.graphs import TEXT_TO_IMAGE, with_inputs

# LoadImage names an upload by its file name, as in ComfyUI's input folder.
HINT_IMAGE = "canny_hint.png"

# ComfyUI's ControlNet example: the text-to-image graph with a hint image through Apply ControlNet onto
# both prompts.
CONTROLNET_WORKFLOW = with_inputs(
    TEXT_TO_IMAGE,
    **{
        "3": {"seed": 91, "steps": 3, "cfg": 7.0, "positive": ["12", 0], "negative": ["12", 1]},
        "5": {"width": 64, "height": 64},
    },
)
CONTROLNET_WORKFLOW.update(
    {
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
)


def controlnet_workflow(**node_inputs: Any) -> dict:
    """A copy of CONTROLNET_WORKFLOW with some node inputs replaced (as graphs.text_to_image)."""
    return with_inputs(CONTROLNET_WORKFLOW, **node_inputs)


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
