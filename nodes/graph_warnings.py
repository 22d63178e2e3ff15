"""What a graph carries that does not run: inputs a node's schema does not have, as ComfyUI ignores them.

ComfyUI's exports keep values of UI widgets beside the inputs (``control_after_generate`` next to a
seed, ``upload`` / ``choose file to upload`` next to an image), and older or hand-edited graphs can
name inputs a node no longer has. ComfyUI runs such graphs and ignores those values; so do we: the
worker passes a node function only the inputs of its spec (gpu_worker/executor.py), and the api
reports each ignored one as a warning on the workflow and the execution rather than refusing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nodes.graph import _node_sort_key
from nodes.registry import Registry

# Values the ComfyUI frontend writes for its own widgets: ignored with a plainer message.
UI_WIDGETS = frozenset(
    {"control_after_generate", "control_before_generate", "upload", "choose file to upload"}
)


@dataclass(frozen=True)
class GraphWarning:
    node_id: str
    class_type: str
    input: str
    type: str
    message: str

    def to_public(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "classType": self.class_type,
            "input": self.input,
            "type": self.type,
            "message": self.message,
        }


def ignored_inputs(graph: Any, registry: Registry) -> list[GraphWarning]:
    """One warning per input, of a node of a known class, that its schema does not have."""
    if not isinstance(graph, Mapping):
        return []
    found: list[GraphWarning] = []
    for node_id, node in graph.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("inputs"), Mapping):
            continue
        spec = registry.get(node.get("class_type")) if isinstance(node.get("class_type"), str) else None
        if spec is None:
            continue
        for name in node["inputs"]:
            if spec.input(name) is not None:
                continue
            what = "the value of a ComfyUI UI widget" if name in UI_WIDGETS else "not an input of this node"
            found.append(
                GraphWarning(
                    str(node_id),
                    spec.class_type,
                    str(name),
                    "ignored_input",
                    f"{spec.class_type} has no input {name!r} ({what}); it is ignored, "
                    "as ComfyUI ignores it.",
                )
            )
    return sorted(found, key=lambda w: (_node_sort_key(w.node_id), w.input))
