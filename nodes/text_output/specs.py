"""Schemas of the text output nodes: PreviewAny (any value shown as text) and SaveText.

SaveText is newer than the recorded contract (tests/data/comfyui/): its inputs follow ComfyUI's
documentation (https://docs.comfy.org/built-in-nodes/SaveText), listed in
tests/data/comfyui/documented_nodes.json.
"""

from __future__ import annotations

from typing import Any

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import ANY, COMBO, STRING, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.text_output.ops"
TEXT_FORMATS = ("txt", "md", "json")


class _ListedOptionsSpec(NodeSpec):
    """PreviewAny's object_info writes its input with an empty options dict: `["*", {}]`."""

    def to_comfy(self, dynamic_choices: dict[str, list[str]] | None = None) -> dict[str, Any]:
        data = super().to_comfy(dynamic_choices)
        for section in data["input"].values():
            for entry in section.values():
                if len(entry) == 1:
                    entry.append({})
        return data


SPECS = (
    _ListedOptionsSpec(
        class_type="PreviewAny",
        display_name="Preview Any",
        category="utils",
        impl=f"{OPS}:preview_any",
        output_node=True,
        inputs=(InputSpec("source", ANY),),
    ),
    V3NodeSpec(
        class_type="SaveText",
        display_name="Save Text",
        category="utils",
        impl=f"{OPS}:save_text",
        output_node=True,
        inputs=(
            InputSpec(
                "text", STRING, tooltip="The text content to save to a file.", options={"forceInput": True}
            ),
            InputSpec("filename_prefix", STRING, default="ComfyUI", options={"multiline": False}),
            InputSpec("format", COMBO, default="txt", choices=TEXT_FORMATS),
        ),
        outputs=(OutputSpec(STRING, "text"),),
    ),
)
