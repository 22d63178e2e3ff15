"""Nodes that ComfyUI declares with its V3 schema (`comfy_api` io.ComfyNode).

ComfyUI's object_info writes those nodes differently from the classic ones: every
input carries an options dict (empty when there are none), a combo is
`["COMBO", {"multiselect": false, "options": [...]}]`, the display name is null
unless the node sets one, and `output_tooltips` is always listed. The contract
is the same; only the serialisation differs, so a subclass overrides `to_comfy`.
"""

from __future__ import annotations

from typing import Any

from nodes.schema import COMBO, InputSpec, NodeSpec


class V3NodeSpec(NodeSpec):
    def to_comfy(self, dynamic_choices: dict[str, list[str]] | None = None) -> dict[str, Any]:
        dynamic_choices = dynamic_choices or {}
        data = super().to_comfy(dynamic_choices)
        for spec in self.inputs:
            section = "required" if spec.required else "optional"
            data["input"][section][spec.name] = _v3_input(spec, dynamic_choices)
        data["display_name"] = self.display_name
        data["output_tooltips"] = [o.tooltip for o in self.outputs]
        return data


def _v3_input(spec: InputSpec, dynamic_choices: dict[str, list[str]]) -> list[Any]:
    opts = spec.comfy_options()
    if spec.type != COMBO:
        return [spec.type, opts]
    choices = dynamic_choices.get(spec.choices_source, []) if spec.choices_source else spec.choices
    return [COMBO, {"multiselect": False, "options": list(choices), **opts}]
