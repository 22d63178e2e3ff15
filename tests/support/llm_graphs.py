"""Graphs with OpenAICompatibleChat: an LLM-expanded prompt into text-to-image, and its text shown."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.graphs import TEXT_TO_IMAGE


def chat_node(endpoint: str, prompt: str = "a red fox", **inputs: Any) -> dict[str, Any]:
    return {
        "class_type": "OpenAICompatibleChat",
        "inputs": {
            "endpoint": endpoint,
            "model": "",
            "prompt": prompt,
            "system_prompt": "",
            "temperature": 0.0,
            "max_tokens": 32,
            "seed": 5,
            **inputs,
        },
    }


def expanded_text_to_image(endpoint: str, **chat_inputs: Any) -> dict[str, Any]:
    """TEXT_TO_IMAGE whose positive prompt is the LLM's answer, also shown by PreviewAny (node 21)."""
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    graph["20"] = chat_node(endpoint, **chat_inputs)
    graph["21"] = {"class_type": "PreviewAny", "inputs": {"source": ["20", 0]}}
    graph["6"]["inputs"]["text"] = ["20", 0]
    graph["3"]["inputs"]["steps"] = 2
    return graph
