"""Conditioning nodes in a ComfyUI graph through the live platform."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.support.api import ApiClient
from tests.support.factories import make_world
from tests.support.graphs import text_to_image

pytestmark = pytest.mark.e2e


def test_zeroed_negative_and_averaged_positive(api) -> None:
    graph = text_to_image(**{"3": {"positive": ["11", 0], "negative": ["10", 0]}})
    graph["10"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["7", 0]}}
    graph["11"] = {
        "class_type": "ConditioningAverage",
        "inputs": {
            "conditioning_to": ["6", 0],
            "conditioning_from": ["7", 0],
            "conditioning_to_strength": 0.7,
        },
    }
    plain = api.wait(api.execute(api.create_workflow(text_to_image())["id"]))
    mixed = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert plain["status"] == mixed["status"] == "COMPLETED", mixed
    assert (mixed["outputs"]["9"]["images"][0]["width"], mixed["outputs"]["9"]["images"][0]["height"]) == (
        64,
        48,
    )
    assert _pixels(mixed) != _pixels(plain)


def _pixels(execution: dict, node: str = "9") -> list[bytes]:
    return [
        Image.open(io.BytesIO(requests.get(image["url"], timeout=30).content)).tobytes()
        for image in execution["outputs"][node]["images"]
    ]


def test_area_composition_with_a_mask_and_a_timestep_range(api, stack) -> None:
    """ComfyUI's area-composition pattern: prompts placed by area and mask, combined, sampled in a batch."""
    graph = text_to_image(
        **{"3": {"positive": ["14", 0]}, "5": {"width": 128, "height": 64, "batch_size": 2}}
    )
    graph["10"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a red barn", "clip": ["4", 1]}}
    graph["11"] = {
        "class_type": "ConditioningSetArea",
        "inputs": {"conditioning": ["10", 0], "width": 64, "height": 64, "x": 64, "y": 0, "strength": 1.2},
        "_meta": {"title": "Conditioning (Set Area)"},
    }
    graph["12"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}}
    graph["13"] = {
        "class_type": "ConditioningSetMask",
        "inputs": {
            "conditioning": ["6", 0],
            "mask": ["12", 0],
            "strength": 0.8,
            "set_cond_area": "mask bounds",
        },
    }
    graph["15"] = {
        "class_type": "ConditioningSetTimestepRange",
        "inputs": {"conditioning": ["11", 0], "start": 0.0, "end": 0.6},
    }
    graph["14"] = {
        "class_type": "ConditioningCombine",
        "inputs": {"conditioning_1": ["13", 0], "conditioning_2": ["15", 0]},
        "_meta": {"title": "Conditioning (Combine)"},
    }
    plain_graph = text_to_image(**{"5": {"width": 128, "height": 64, "batch_size": 2}})
    plain = api.wait(api.execute(api.create_workflow(plain_graph)["id"]))
    composed = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert plain["status"] == composed["status"] == "COMPLETED", composed
    images = composed["outputs"]["9"]["images"]
    assert [(image["width"], image["height"]) for image in images] == [(128, 64), (128, 64)]
    assert _pixels(composed) != _pixels(plain)
    # Deterministic for a seed: another tenant shares no cached results, so this run is computed afresh.
    other = ApiClient(stack.base_url, make_world().key)
    again = other.wait(other.execute(other.create_workflow(graph)["id"]))
    assert again["cachedNodes"] == []
    assert _pixels(again) == _pixels(composed)
