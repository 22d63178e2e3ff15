"""ComfyUI API-format graphs: structure, validation and execution order.

A graph is `{node_id: {"class_type": str, "inputs": {name: literal | [src_id, index]}}}`.
Validation reports every problem at once, keyed by node id, and never
corrects a value.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from nodes.model_store import FOLDERS as MODEL_FOLDERS
from nodes.model_store import store_name
from nodes.registry import Registry
from nodes.schema import ANY, BOOLEAN, COMBO, FLOAT, INT, STRING, NodeSpec

Graph = Mapping[str, Mapping[str, Any]]
MAX_NODES = 2000


@dataclass(frozen=True)
class GraphIssue:
    """One validation problem. `node_id` is None for graph-wide problems."""

    type: str
    message: str
    node_id: str | None = None
    class_type: str | None = None
    input: str | None = None

    def to_public(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.input is not None:
            data["input"] = self.input
        return data


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def links(node: Mapping[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(input name, source node id, output index) for each linked input."""
    if not isinstance(node, Mapping) or not isinstance(node.get("inputs"), Mapping):
        return
    for name, value in (node.get("inputs") or {}).items():
        if is_link(value):
            yield name, value[0], value[1]


def output_node_ids(graph: Graph, registry: Registry) -> list[str]:
    ids = []
    for node_id, node in graph.items():
        spec = registry.get(node.get("class_type", "")) if isinstance(node, Mapping) else None
        if spec is not None and spec.output_node:
            ids.append(node_id)
    return sorted(ids, key=_node_sort_key)


def needed_nodes(graph: Graph, targets: Collection[str]) -> set[str]:
    """Every node the targets depend on, the targets included."""
    seen: set[str] = set()
    stack = [t for t in targets if t in graph]
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        for _, src, _ in links(graph[node_id]):
            if src in graph and src not in seen:
                stack.append(src)
    return seen


def topological_order(graph: Graph, node_ids: Collection[str]) -> list[str]:
    """Dependencies first; ties broken by node id so runs are reproducible.

    Iterative depth-first search: a long chain of nodes must not hit Python's recursion limit.
    """
    wanted = set(node_ids)
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def deps(node_id: str) -> list[str]:
        return sorted({src for _, src, _ in links(graph[node_id]) if src in wanted}, key=_node_sort_key)

    for root in sorted(wanted, key=_node_sort_key):
        if state.get(root) == 2:
            continue
        path: list[str] = [root]
        pending: list[list[str]] = [deps(root)]
        state[root] = 1
        while path:
            if not pending[-1]:
                done = path.pop()
                pending.pop()
                state[done] = 2
                order.append(done)
                continue
            nxt = pending[-1].pop(0)
            if state.get(nxt) == 2:
                continue
            if state.get(nxt) == 1:
                raise CycleError([*path[path.index(nxt) :], nxt])
            state[nxt] = 1
            path.append(nxt)
            pending.append(deps(nxt))
    return order


class CycleError(ValueError):
    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(" -> ".join(cycle))


def validate_graph(
    graph: Any,
    registry: Registry,
    *,
    dynamic_choices: Mapping[str, Collection[str] | None] | None = None,
) -> list[GraphIssue]:
    """All problems of the graph; an empty list means it can run.

    `dynamic_choices` maps a choices source ("checkpoints", "files") to the
    values allowed now; a source mapped to None (or absent) is not checked here.
    """
    dynamic_choices = dynamic_choices or {}
    if not isinstance(graph, Mapping) or not graph:
        return [
            GraphIssue("invalid_graph", "The graph must be a non-empty object of nodes keyed by node id.")
        ]

    if len(graph) > MAX_NODES:
        return [GraphIssue("graph_too_large", f"The graph has {len(graph)} nodes; the limit is {MAX_NODES}.")]
    issues: list[GraphIssue] = []
    specs: dict[str, NodeSpec] = {}
    for node_id, node in graph.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            issues.append(
                GraphIssue("invalid_node", "A node must be an object with a string 'class_type'.", node_id)
            )
            continue
        if not isinstance(node.get("inputs", {}), Mapping):
            issues.append(
                GraphIssue("invalid_node", "'inputs' must be an object.", node_id, node["class_type"])
            )
            continue
        spec = registry.get(node["class_type"])
        if spec is None:
            issues.append(
                GraphIssue(
                    "unknown_node_type",
                    f"Unknown class_type {node['class_type']!r}; GET /v1/nodes lists the available nodes.",
                    node_id,
                    node["class_type"],
                )
            )
            continue
        specs[node_id] = spec

    outputs = [node_id for node_id, spec in specs.items() if spec.output_node]
    if not outputs:
        issues.append(GraphIssue("no_output_node", "The graph has no output node (for example SaveImage)."))
        checked = set(specs)
    else:
        # Like ComfyUI, only what an output node needs is checked and run.
        checked = needed_nodes(graph, outputs) & set(specs)

    for node_id in sorted(checked, key=_node_sort_key):
        issues.extend(_validate_node(node_id, graph, specs, dynamic_choices))

    valid_ids = [n for n in checked if all(src in graph for _, src, _ in links(graph[n]))]
    try:
        topological_order(graph, valid_ids)
    except CycleError as exc:
        issues.append(
            GraphIssue(
                "dependency_cycle",
                f"The graph has a cycle: {exc}.",
                exc.cycle[0],
                graph[exc.cycle[0]].get("class_type"),
            )
        )
    return issues


def _validate_node(
    node_id: str,
    graph: Graph,
    specs: Mapping[str, NodeSpec],
    dynamic_choices: Mapping[str, Collection[str] | None],
) -> Iterator[GraphIssue]:
    spec = specs[node_id]
    values = graph[node_id].get("inputs") or {}

    def issue(kind: str, message: str, input_name: str) -> GraphIssue:
        return GraphIssue(kind, message, node_id, spec.class_type, input_name)

    # Inputs the spec does not have are ignored, as ComfyUI ignores them (nodes/graph_warnings.py).
    for inp in spec.inputs:
        if inp.name not in values:
            if inp.required and (not inp.is_literal or inp.default is None):
                yield issue("required_input_missing", f"Required input {inp.name!r} is missing.", inp.name)
            continue
        value = values[inp.name]
        if is_link(value):
            yield from _check_link(inp.name, inp.type, value, graph, specs, issue)
        elif not inp.is_literal:
            yield issue(
                "invalid_input_type",
                f"Input {inp.name!r} takes a link [node_id, output_index] to a {inp.type}, got {value!r}.",
                inp.name,
            )
        else:
            allowed = dynamic_choices.get(inp.choices_source) if inp.choices_source else inp.choices
            if inp.choices_source in MODEL_FOLDERS and isinstance(value, str):
                value = store_name(value)  # "Anime\\model.safetensors", as ComfyUI on Windows writes it
            problem = check_literal(inp.type, value, minimum=inp.min, maximum=inp.max, choices=allowed)
            if problem:
                yield issue(problem[0], f"Input {inp.name!r}: {problem[1]}", inp.name)
    for check in spec.checks:
        for input_name, kind, message in check(values):
            yield issue(kind, message, input_name)


def _check_link(name, expected, value, graph, specs, issue) -> Iterator[GraphIssue]:
    src_id, index = value
    if src_id not in graph:
        yield issue(
            "invalid_link", f"Input {name!r} links to node {src_id!r}, which is not in the graph.", name
        )
        return
    src_spec = specs.get(src_id)
    if src_spec is None:
        return  # that node's own error is already reported
    if not 0 <= index < len(src_spec.outputs):
        yield issue(
            "invalid_link",
            f"Input {name!r} links to output {index} of node {src_id!r} ({src_spec.class_type}), "
            f"which has {len(src_spec.outputs)} output(s).",
            name,
        )
        return
    got = src_spec.outputs[index].type
    if expected != got and ANY not in (expected, got):
        yield issue(
            "link_type_mismatch",
            f"Input {name!r} expects {expected} but node {src_id!r} output {index} is {got}.",
            name,
        )


def check_literal(
    type_: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Collection[str] | None = None,
) -> tuple[str, str] | None:
    """(error type, message) for a literal that does not fit its input, else None."""
    if type_ == INT:
        # 20.0 is not accepted either: never auto-correct a value (and torch seeds reject floats).
        if isinstance(value, bool) or not isinstance(value, int):
            return "invalid_input_type", f"expected an integer, got {value!r}."
    elif type_ == FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            return "invalid_input_type", f"expected a number, got {value!r}."
    elif type_ == STRING:
        if not isinstance(value, str):
            return "invalid_input_type", f"expected a string, got {value!r}."
    elif type_ == BOOLEAN:
        if not isinstance(value, bool):
            return "invalid_input_type", f"expected true or false, got {value!r}."
    elif type_ == COMBO:
        if not isinstance(value, str):
            return "invalid_input_type", f"expected one of the listed choices, got {value!r}."
        if choices is not None and value not in choices:
            shown = ", ".join(sorted(choices)[:20]) or "none available"
            return "value_not_in_list", f"{value!r} is not among the choices: {shown}."
        return None
    if type_ in (INT, FLOAT):
        if minimum is not None and value < minimum:
            return "value_out_of_range", f"{value!r} is below the minimum {minimum}."
        if maximum is not None and value > maximum:
            return "value_out_of_range", f"{value!r} is above the maximum {maximum}."
    return None


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _node_sort_key(node_id: str) -> tuple[int, int, str]:
    # Numeric ids in numeric order ("2" before "10"); only plain ASCII digits count as numbers.
    if node_id.isascii() and node_id.isdecimal():
        return (0, len(node_id.lstrip("0")), node_id.lstrip("0"))
    return (1, 0, node_id)
