"""Typed node schemas: inputs, outputs and the node spec itself.

The shapes follow ComfyUI's `object_info` so that a ComfyUI user finds the
same names, defaults, ranges and choices here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Literal widget types: values typed into the graph.
INT = "INT"
FLOAT = "FLOAT"
STRING = "STRING"
BOOLEAN = "BOOLEAN"
COMBO = "COMBO"
LITERAL_TYPES = frozenset({INT, FLOAT, STRING, BOOLEAN, COMBO})

# Link types: values that flow between nodes.
MODEL = "MODEL"
CLIP = "CLIP"
VAE = "VAE"
CONDITIONING = "CONDITIONING"
LATENT = "LATENT"
IMAGE = "IMAGE"
MASK = "MASK"
CONTROL_NET = "CONTROL_NET"
UPSCALE_MODEL = "UPSCALE_MODEL"
CLIP_VISION = "CLIP_VISION"
CLIP_VISION_OUTPUT = "CLIP_VISION_OUTPUT"
# Custom sampling (nodes/custom_sampling): a sampler choice, a sigma schedule, a guider, a noise source.
SAMPLER = "SAMPLER"
SIGMAS = "SIGMAS"
GUIDER = "GUIDER"
NOISE = "NOISE"
ANY = "*"


@dataclass(frozen=True)
class InputSpec:
    """One input of a node. `choices_source` names a dynamic list (models on disk, files)."""

    name: str
    type: str
    required: bool = True
    default: Any = None
    min: float | int | None = None
    max: float | int | None = None
    step: float | int | None = None
    round: float | None = None
    choices: tuple[str, ...] = ()
    choices_source: str | None = None
    tooltip: str | None = None
    # Extra ComfyUI widget flags (multiline, dynamicPrompts, control_after_generate, ...).
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_literal(self) -> bool:
        return self.type in LITERAL_TYPES

    def comfy_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.default is not None:
            opts["default"] = self.default
        for key in ("min", "max", "step", "round"):
            value = getattr(self, key)
            if value is not None:
                opts[key] = value
        opts.update(self.options)
        if self.tooltip:
            opts["tooltip"] = self.tooltip
        return opts

    def to_comfy(self) -> list[Any]:
        """`[type_or_choices, {options}]` as ComfyUI's object_info writes an input."""
        head: Any = list(self.choices) if self.type == COMBO else self.type
        opts = self.comfy_options()
        return [head, opts] if opts else [head]

    def to_public(self, dynamic_choices: list[str] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required}
        if self.default is not None:
            data["default"] = self.default
        for key in ("min", "max", "step"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.type == COMBO:
            data["choices"] = dynamic_choices if self.choices_source else list(self.choices)
            if self.choices_source:
                data["choicesSource"] = self.choices_source
        if self.tooltip:
            data["tooltip"] = self.tooltip
        return data


@dataclass(frozen=True)
class OutputSpec:
    type: str
    name: str | None = None
    tooltip: str | None = None
    # A list of values (ComfyUI's output_is_list): each node it feeds runs once per item.
    is_list: bool = False

    @property
    def display_name(self) -> str:
        return self.name or self.type


@dataclass(frozen=True)
class NodeSpec:
    """A node's declared contract plus the dotted path of its implementation.

    `impl` is "module:function"; the function receives a context and the
    node's resolved inputs as keyword arguments and returns a tuple of
    outputs, or a `NodeResult` for output nodes.
    """

    class_type: str
    category: str
    impl: str
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    output_node: bool = False
    display_name: str | None = None
    description: str = ""
    # Pure-python checks across inputs: f(literal inputs) -> [(input, error type, message)].
    checks: tuple[Callable[[Mapping[str, Any]], Iterable[tuple[str, str, str]]], ...] = ()
    # ComfyUI's INPUT_IS_LIST: the function gets every input as a list (lists whole, not item by item).
    input_is_list: bool = False
    # A node of Crucible's own (the local LLM nodes): ComfyUI has no node of that name to match.
    crucible: bool = False

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    def to_comfy(self, dynamic_choices: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """This node as one entry of ComfyUI's `GET /object_info`."""
        dynamic_choices = dynamic_choices or {}
        sections: dict[str, dict[str, Any]] = {}
        order: dict[str, list[str]] = {}
        for spec in self.inputs:
            section = "required" if spec.required else "optional"
            entry = spec.to_comfy()
            if spec.choices_source:
                entry[0] = list(dynamic_choices.get(spec.choices_source, []))
            sections.setdefault(section, {})[spec.name] = entry
            order.setdefault(section, []).append(spec.name)
        data: dict[str, Any] = {
            "input": sections,
            "input_order": order,
            "output": [o.type for o in self.outputs],
            "output_is_list": [o.is_list for o in self.outputs],
            "output_name": [o.display_name for o in self.outputs],
            "name": self.class_type,
            "display_name": self.display_name or self.class_type,
            "description": self.description,
            "category": self.category,
            "output_node": self.output_node,
        }
        tooltips = [o.tooltip for o in self.outputs]
        if any(tooltips):
            data["output_tooltips"] = tooltips
        return data

    def to_public(self, dynamic_choices: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """This node as the `GET /v1/nodes` catalogue shows it."""
        dynamic_choices = dynamic_choices or {}
        return {
            "classType": self.class_type,
            "displayName": self.display_name or self.class_type,
            "category": self.category,
            "description": self.description,
            "outputNode": self.output_node,
            "inputs": [
                spec.to_public(dynamic_choices.get(spec.choices_source or "", [])) for spec in self.inputs
            ],
            "outputs": [
                {"index": i, "type": o.type, "name": o.display_name} for i, o in enumerate(self.outputs)
            ],
        }


class NodeList(list[Any]):
    """The value of a list output (OutputSpec.is_list) as it flows to the next node: one item per run.

    A type of its own, so a node value that happens to be a Python list is never taken for one."""


@dataclass
class NodeResult:
    """What an output node returns: its link outputs and the data shown in poll."""

    outputs: tuple[Any, ...] = ()
    ui: dict[str, Any] = field(default_factory=dict)
