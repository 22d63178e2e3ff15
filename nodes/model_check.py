"""Refuses, at validation, models the workers would refuse to load. No torch.

The api runs it beside nodes.graph.validate_graph and so does the worker, so
a graph naming a pickled checkpoint or a family no loader builds is a 400
naming its node and input, never a run queued only to fail on a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodes.graph import GraphIssue, _node_sort_key, is_link, needed_nodes
from nodes.loaders.families import CLIP_LOADER_INPUTS, clip_recipe_problem
from nodes.model_store import FOLDERS, ModelStore, store_name
from nodes.registry import Registry


def unloadable_model_issues(graph: Any, registry: Registry, store: ModelStore) -> list[GraphIssue]:
    """One issue per model input (of a node the outputs need) naming a model listed but not loadable."""
    if not isinstance(graph, Mapping):
        return []
    specs = {
        node_id: registry.get(node.get("class_type", ""))
        for node_id, node in graph.items()
        if isinstance(node, Mapping) and isinstance(node.get("class_type"), str)
    }
    outputs = [node_id for node_id, spec in specs.items() if spec is not None and spec.output_node]
    refusals: dict[str, dict[str, str]] = {}
    issues: list[GraphIssue] = []
    for node_id in sorted(needed_nodes(graph, outputs), key=_node_sort_key):
        spec, values = specs.get(node_id), graph[node_id].get("inputs")
        if spec is None or not isinstance(values, Mapping):
            continue
        for inp in spec.inputs:
            value = values.get(inp.name)
            if inp.choices_source not in FOLDERS or not isinstance(value, str) or is_link(value):
                continue
            folder = inp.choices_source
            if folder not in refusals:
                refusals[folder] = store.refusals(folder)
            reason = refusals[folder].get(store_name(value))
            if reason is not None:
                issues.append(
                    GraphIssue(
                        "model_not_loadable",
                        f"Input {inp.name!r}: {value!r} in {folder}/ cannot be loaded by the workers: "
                        f"it is {reason}.",
                        node_id,
                        spec.class_type,
                        inp.name,
                    )
                )
        if spec.class_type in CLIP_LOADER_INPUTS:
            issues += _clip_recipe_issues(node_id, spec.class_type, values, store)
    return issues


def _clip_recipe_issues(
    node_id: str, class_type: str, values: Mapping[str, Any], store: ModelStore
) -> list[GraphIssue]:
    """A CLIP loader whose files (by their families) cannot make its `type` of CLIP."""
    names, fixed_type = CLIP_LOADER_INPUTS[class_type]
    clip_type = fixed_type or values.get("type")
    chosen = [(name, values.get(name)) for name in names]
    if not isinstance(clip_type, str) or not all(isinstance(v, str) for _, v in chosen):
        return []  # links or missing values: validate_graph reports those
    families = {entry.name: entry.family for entry in store.entries("text_encoders")}
    if any(value not in families for _, value in chosen):
        return []  # an unknown name: validate_graph reports it
    problem = clip_recipe_problem(clip_type, [(name, families[str(value)]) for name, value in chosen])
    if problem is None:
        return []
    field = "type" if fixed_type is None else names[0]
    return [GraphIssue("model_not_loadable", f"Input {field!r}: {problem}.", node_id, class_type, field)]
