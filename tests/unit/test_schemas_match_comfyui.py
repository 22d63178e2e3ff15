"""Every node we implement has exactly ComfyUI's inputs, defaults, ranges, choices and outputs."""

from __future__ import annotations

import json

import pytest

from nodes.catalog import default_registry
from tests.support.comfy_contract import CONTRACT_DIR

OBJECT_INFO = CONTRACT_DIR / "object_info.json"
# Nodes newer than the recording, written from ComfyUI's documentation (each names its page).
DOCUMENTED = CONTRACT_DIR / "documented_nodes.json"


@pytest.fixture(scope="module")
def object_info() -> dict:
    if not OBJECT_INFO.exists():
        pytest.fail(f"ComfyUI's recorded contract is missing: {OBJECT_INFO}")
    documented = {
        name: entry["object_info"]
        for name, entry in json.loads(DOCUMENTED.read_text()).items()
        if not name.startswith("_")
    }
    return {**documented, **json.loads(OBJECT_INFO.read_text())}


@pytest.mark.parametrize("class_type", [spec.class_type for spec in default_registry()])
def test_node_matches_comfyui_object_info(object_info: dict, class_type: str) -> None:
    theirs = dict(object_info[class_type])
    theirs.pop("python_module", None)
    theirs.pop("api_node", None)
    theirs.pop("deprecated", None)
    theirs.pop("experimental", None)
    # Hidden inputs (prompt, extra_pnginfo) are ComfyUI UI plumbing, not part of a graph.
    theirs["input"] = {k: v for k, v in theirs["input"].items() if k != "hidden"}
    theirs["input_order"] = {k: v for k, v in theirs["input_order"].items() if k != "hidden"}
    # Dynamic lists (models on disk, uploaded files) are compared as lists, not contents: each
    # source gets the list ComfyUI recorded for that input (its machine's files, VAELoader's
    # "pixel_space").
    spec = default_registry().get(class_type)
    assert spec is not None
    dynamic = {
        inp.choices_source: _recorded_choices(theirs, inp.name) for inp in spec.inputs if inp.choices_source
    }
    ours = spec.to_comfy(dynamic)
    assert ours == theirs


def _recorded_choices(theirs: dict, name: str) -> list:
    for section in theirs["input"].values():
        if name in section:
            choices = section[name][0]
            if choices == "COMBO":  # a V3 node's combo: ["COMBO", {"options": [...]}]
                choices = section[name][1]["options"]
            assert isinstance(choices, list), f"{name} is not a list input in ComfyUI"
            return choices
    raise AssertionError(f"ComfyUI has no input {name!r}")
