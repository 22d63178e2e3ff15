"""Graph validation reports every problem with its node id and input, and never corrects a value."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nodes.catalog import default_registry
from nodes.graph import topological_order, validate_graph
from tests.support.graphs import TEXT_TO_IMAGE, TINY_CHECKPOINT

CHOICES = {"checkpoints": [TINY_CHECKPOINT], "files": []}


def issues_of(graph: object) -> list[tuple[str | None, str, str | None]]:
    return [
        (i.node_id, i.type, i.input)
        for i in validate_graph(graph, default_registry(), dynamic_choices=CHOICES)
    ]


def graph_with(**changes: Any) -> dict:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    for node_id, inputs in changes.items():
        graph[node_id]["inputs"].update(inputs)
    return graph


def test_the_default_comfyui_graph_is_valid() -> None:
    assert issues_of(TEXT_TO_IMAGE) == []


def test_unknown_class_type() -> None:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    graph["8"]["class_type"] = "VAEDecodeTurbo"
    assert ("8", "unknown_node_type", None) in issues_of(graph)


def test_missing_required_input() -> None:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    del graph["3"]["inputs"]["positive"]
    del graph["7"]["inputs"]["text"]
    assert set(issues_of(graph)) >= {
        ("3", "required_input_missing", "positive"),
        ("7", "required_input_missing", "text"),
    }


def test_literal_with_a_default_may_be_omitted() -> None:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    del graph["3"]["inputs"]["denoise"]
    assert issues_of(graph) == []


def test_wrong_literal_types() -> None:
    graph = graph_with(**{"3": {"steps": "twenty", "cfg": True, "seed": 1.5}, "6": {"text": 42}})
    found = set(issues_of(graph))
    assert {
        ("3", "invalid_input_type", "steps"),
        ("3", "invalid_input_type", "cfg"),
        ("3", "invalid_input_type", "seed"),
        ("6", "invalid_input_type", "text"),
    } <= found


def test_out_of_range() -> None:
    found = set(issues_of(graph_with(**{"3": {"steps": 0, "denoise": 1.5}, "5": {"width": 8}})))
    assert {
        ("3", "value_out_of_range", "steps"),
        ("3", "value_out_of_range", "denoise"),
        ("5", "value_out_of_range", "width"),
    } <= found


def test_combo_value_not_in_choices() -> None:
    found = issues_of(
        graph_with(**{"3": {"sampler_name": "eulerr"}, "4": {"ckpt_name": "missing.safetensors"}})
    )
    assert ("3", "value_not_in_list", "sampler_name") in found
    assert ("4", "value_not_in_list", "ckpt_name") in found


def test_a_comfyui_sampler_we_cannot_honour_is_an_error_listing_the_accepted_names() -> None:
    from nodes.diffusion.samplers import COMFY_SAMPLERS
    from nodes.sampling.names import IMPLEMENTED_SAMPLERS

    missing = [name for name in COMFY_SAMPLERS if name not in IMPLEMENTED_SAMPLERS]
    if not missing:
        pytest.skip("every ComfyUI sampler is implemented")
    issues = validate_graph(
        graph_with(**{"3": {"sampler_name": missing[0]}}), default_registry(), dynamic_choices=CHOICES
    )
    assert [(i.node_id, i.type, i.input) for i in issues] == [("3", "unsupported_sampler", "sampler_name")]
    assert "euler" in issues[0].message


def test_a_timestep_range_that_ends_before_it_starts_is_an_error() -> None:
    graph = graph_with(**{"3": {"positive": ["10", 0]}})
    graph["10"] = {
        "class_type": "ConditioningSetTimestepRange",
        "inputs": {"conditioning": ["6", 0], "start": 0.8, "end": 0.2},
    }
    assert issues_of(graph) == [("10", "value_not_valid", "start")]
    graph["10"]["inputs"].update(start=0.2, end=0.8)
    assert issues_of(graph) == []


def test_link_to_missing_node_or_output_index() -> None:
    found = set(issues_of(graph_with(**{"3": {"model": ["99", 0]}, "8": {"vae": ["4", 7]}})))
    assert {("3", "invalid_link", "model"), ("8", "invalid_link", "vae")} <= found


def test_link_type_mismatch() -> None:
    found = issues_of(graph_with(**{"8": {"vae": ["4", 1]}}))
    assert ("8", "link_type_mismatch", "vae") in found


def test_cycle() -> None:
    graph = graph_with(**{"5": {"width": 64}})
    graph["3"]["inputs"]["latent_image"] = ["10", 0]
    graph["10"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["4", 2]}}
    assert any(kind == "dependency_cycle" for _, kind, _ in issues_of(graph))


def test_no_output_node() -> None:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    del graph["9"]
    assert (None, "no_output_node", None) in issues_of(graph)


def test_every_problem_is_reported_at_once() -> None:
    graph = graph_with(**{"3": {"steps": -1, "sampler_name": "nope"}, "5": {"width": "wide"}})
    graph["8"]["class_type"] = "Nope"
    assert len(issues_of(graph)) == 4


def test_not_a_graph() -> None:
    assert issues_of([]) == [(None, "invalid_graph", None)]
    assert issues_of({"1": "SaveImage"}) == [("1", "invalid_node", None), (None, "no_output_node", None)]


def test_topological_order_puts_dependencies_first() -> None:
    order = topological_order(TEXT_TO_IMAGE, list(TEXT_TO_IMAGE))
    position = {node_id: i for i, node_id in enumerate(order)}
    for node_id, node in TEXT_TO_IMAGE.items():
        for value in node["inputs"].values():
            if isinstance(value, list):
                assert position[value[0]] < position[node_id]


def test_inputs_a_node_does_not_have_are_ignored_and_reported_as_warnings() -> None:
    from nodes.graph_warnings import ignored_inputs

    graph = graph_with(
        **{
            "3": {"control_after_generate": "randomize", "stepz": 3},
            "9": {"choose file to upload": "image"},
        }
    )
    assert issues_of(graph) == []
    warnings = [w.to_public() for w in ignored_inputs(graph, default_registry())]
    assert [(w["nodeId"], w["classType"], w["input"], w["type"]) for w in warnings] == [
        ("3", "KSampler", "control_after_generate", "ignored_input"),
        ("3", "KSampler", "stepz", "ignored_input"),
        ("9", "SaveImage", "choose file to upload", "ignored_input"),
    ]
    assert "UI widget" in warnings[0]["message"] and "not an input of this node" in warnings[1]["message"]
    assert ignored_inputs(TEXT_TO_IMAGE, default_registry()) == []
