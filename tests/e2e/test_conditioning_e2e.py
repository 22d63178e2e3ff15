"""Conditioning nodes in a ComfyUI graph through the live platform."""

from __future__ import annotations

import pytest

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
