"""Every node we implement has exactly ComfyUI's inputs, defaults, ranges, choices and outputs."""

from __future__ import annotations

import json

import pytest

from nodes.catalog import default_registry
from tests.support.comfy_contract import CONTRACT_DIR

OBJECT_INFO = CONTRACT_DIR / "object_info.json"
# Nodes ComfyUI added after the recording, written down from its documentation (see the file's _source).
NEWER_OBJECT_INFO = CONTRACT_DIR.parent / "comfyui_newer" / "object_info.json"
NEWER = json.loads(NEWER_OBJECT_INFO.read_text())
# Nodes newer than the recording that we match exactly, written from ComfyUI's documentation.
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


@pytest.mark.parametrize(
    "class_type",
    [s.class_type for s in default_registry() if s.class_type not in NEWER and not s.crucible],
)
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


def test_every_node_is_in_a_recording(object_info: dict) -> None:
    missing = [
        s.class_type for s in default_registry() if s.class_type not in object_info | NEWER and not s.crucible
    ]
    assert missing == [], "nodes that are neither in ComfyUI's recording nor in comfyui_newer/"


def test_crucible_nodes_take_no_comfyui_name(object_info: dict) -> None:
    """A node of Crucible's own must not shadow a ComfyUI node: a ComfyUI graph using that name would
    run something else."""
    ours = [s.class_type for s in default_registry() if s.crucible]
    assert ours, "the local LLM nodes are Crucible's own"
    assert [name for name in ours if name in object_info or name in NEWER or name == "TextGenerate"] == []


@pytest.mark.parametrize("class_type", sorted(k for k in NEWER if not k.startswith("_")))
def test_newer_node_keeps_comfyui_inputs_and_outputs(class_type: str) -> None:
    """ComfyUI's inputs and outputs exactly, in its order; ours may only add optional inputs and
    outputs after them (so an exported ComfyUI graph links the same indices)."""
    theirs = NEWER[class_type]
    spec = default_registry().get(class_type)
    assert spec is not None
    ours = spec.to_comfy({inp.choices_source: [] for inp in spec.inputs if inp.choices_source})
    for section, names in theirs["input_order"].items():
        assert ours["input_order"][section][: len(names)] == names
        for name in names:
            assert ours["input"][section][name] == theirs["input"][section][name], name
    added = set(ours["input_order"].get("required", [])) - set(theirs["input_order"].get("required", []))
    assert added == set(), "added inputs must be optional"
    for key in ("output", "output_is_list", "output_name", "output_tooltips"):
        assert ours[key][: len(theirs[key])] == theirs[key], key
    for key in ("name", "display_name", "description", "category", "output_node"):
        assert ours[key] == theirs[key], key
