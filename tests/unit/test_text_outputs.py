"""PreviewAny and SaveText: any value as text, stored whole, reported inline up to 64 KiB."""

from __future__ import annotations

import json

import pytest
import torch

from nodes.text_output import ops
from tests.support.node_context import NodeTestContext


def only_item(ui: dict) -> dict:
    assert list(ui) == ["text"] and len(ui["text"]) == 1
    return ui["text"][0]


@pytest.mark.parametrize(
    ("value", "text", "content_type"),
    [
        ("a red fox", "a red fox", "text/plain; charset=utf-8"),
        (42, "42", "text/plain; charset=utf-8"),
        (0.5, "0.5", "text/plain; charset=utf-8"),
        (True, "True", "text/plain; charset=utf-8"),
        (
            {"seed": 5, "tags": ["a", "é"]},
            json.dumps({"seed": 5, "tags": ["a", "é"]}, indent=4, ensure_ascii=False),
            "application/json",
        ),
    ],
)
def test_preview_any_shows_a_value_as_comfyui_does(value, text: str, content_type: str) -> None:
    ctx = NodeTestContext()
    item = only_item(ops.preview_any(ctx, value).ui)
    assert (item["text"], item["truncated"], item["contentType"]) == (text, False, content_type)
    assert ctx.artifacts[item["filename"]] == text.encode() and item["sizeBytes"] == len(text.encode())


def test_preview_any_of_a_tensor_is_its_printout() -> None:
    item = only_item(ops.preview_any(NodeTestContext(), torch.zeros(2, 3)).ui)
    assert item["text"].startswith("tensor([[0., 0., 0.]") and item["contentType"].startswith("text/plain")


def test_long_text_is_cut_inline_but_stored_whole() -> None:
    ctx = NodeTestContext()
    text = "é" * 40000  # 80,000 bytes of UTF-8: the cut must not split a character
    item = only_item(ops.save_text(ctx, text, "notes", "md").ui)
    assert item["truncated"] is True and item["contentType"] == "text/markdown; charset=utf-8"
    assert item["text"] == "é" * (ops.INLINE_TEXT_BYTES // 2) and item["sizeBytes"] == 80000
    assert ctx.artifacts[item["filename"]].decode() == text and item["filename"].endswith(".md")


def test_save_text_passes_its_text_on_and_pretty_prints_json() -> None:
    ctx = NodeTestContext()
    result = ops.save_text(ctx, '{"b": [1, 2], "a": null}', "ComfyUI", "json")
    assert result.outputs == ('{\n  "b": [\n    1,\n    2\n  ],\n  "a": null\n}',)
    item = only_item(result.ui)
    assert item["contentType"] == "application/json" and json.loads(item["text"]) == {"b": [1, 2], "a": None}
    with pytest.raises(ValueError, match=r"text is not valid JSON \(Expecting value at line 1, column 1\)"):
        ops.save_text(ctx, "not json", "ComfyUI", "json")
    assert ops.save_text(ctx, "plain", "ComfyUI", "txt").outputs == ("plain",)
