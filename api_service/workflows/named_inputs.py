"""Named workflow inputs: a stable public name mapped onto one literal node input.

`{"prompt": {"node": "6", "input": "text"}}` lets a caller send
`{"inputs": {"prompt": "a red fox"}}` without knowing the graph.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from nodes.graph import GraphIssue, is_link
from nodes.registry import Registry

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def named_input_issues(graph: Mapping[str, Any], mapping: Any, registry: Registry) -> list[GraphIssue]:
    """Problems with the mapping itself, checked when a workflow is saved."""
    if not isinstance(mapping, Mapping):
        return [GraphIssue("invalid_named_input", "'inputs' must be an object of name -> {node, input}.")]
    issues = []
    for name, target in mapping.items():

        def bad(message: str, name: str = name) -> GraphIssue:
            return GraphIssue("invalid_named_input", f"Named input {name!r}: {message}", input=name)

        if not NAME_PATTERN.match(name):
            issues.append(bad("names use letters, digits, '_', '.', '-' and start with a letter or '_'."))
            continue
        if (
            not isinstance(target, Mapping)
            or not isinstance(target.get("node"), str)
            or not isinstance(target.get("input"), str)
        ):
            issues.append(bad('expected {"node": "<node id>", "input": "<input name>"}.'))
            continue
        node = graph.get(target["node"]) if isinstance(graph, Mapping) else None
        if not isinstance(node, Mapping):
            issues.append(bad(f"node {target['node']!r} is not in the graph."))
            continue
        spec = registry.get(node.get("class_type", ""))
        if spec is None:
            continue  # the graph's own validation reports the unknown node
        inp = spec.input(target["input"])
        if inp is None:
            issues.append(bad(f"{spec.class_type} has no input {target['input']!r}."))
        elif not inp.is_literal:
            issues.append(
                bad(f"{spec.class_type}.{inp.name} is a {inp.type} link, not a value a caller can set.")
            )
        elif is_link((node.get("inputs") or {}).get(inp.name)):
            issues.append(bad(f"{spec.class_type}.{inp.name} is fed by a link in the graph."))
    return issues


def describe_named_inputs(
    graph: Mapping[str, Any], mapping: Mapping[str, Any], registry: Registry
) -> dict[str, Any]:
    """Each named input with the type and default taken from the node schema and the graph."""
    described: dict[str, Any] = {}
    for name, target in mapping.items():
        node = graph.get(target["node"], {})
        spec = registry.get(node.get("class_type", ""))
        inp = spec.input(target["input"]) if spec else None
        entry: dict[str, Any] = {"node": target["node"], "input": target["input"]}
        if inp is not None:
            entry["type"] = inp.type
            current = (node.get("inputs") or {}).get(inp.name, inp.default)
            if current is not None:
                entry["default"] = current
            for key in ("min", "max"):
                if getattr(inp, key) is not None:
                    entry[key] = getattr(inp, key)
            if inp.choices:
                entry["choices"] = list(inp.choices)
        described[name] = entry
    return described


class UnknownNamedInputs(ValueError):
    def __init__(self, names: list[str], known: list[str]) -> None:
        self.names = names
        self.known = known
        accepted = ", ".join(known) or "no named inputs"
        super().__init__(f"Unknown input(s): {', '.join(names)}. This workflow accepts: {accepted}.")


def apply_named_inputs(
    graph: Mapping[str, Any], mapping: Mapping[str, Any], values: Mapping[str, Any]
) -> dict:
    """A copy of the graph with the caller's values written into the mapped node inputs."""
    unknown = sorted(set(values) - set(mapping))
    if unknown:
        raise UnknownNamedInputs(unknown, sorted(mapping))
    resolved = copy.deepcopy(dict(graph))
    for name, value in values.items():
        target = mapping[name]
        resolved[target["node"]].setdefault("inputs", {})[target["input"]] = value
    return resolved
