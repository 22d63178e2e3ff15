"""Models the workers would refuse to load are refused at validation, by node and input, without torch."""

from __future__ import annotations

import json
from pathlib import Path

from nodes.catalog import default_registry
from nodes.model_check import unloadable_model_issues
from nodes.model_store import ModelStore
from tests.support.graphs import text_to_image


def safetensors(path: Path, keys: list[str]) -> None:
    header = json.dumps({k: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]} for k in keys}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0\0\0\0")


def store(tmp_path: Path) -> ModelStore:
    ckpts = tmp_path / "checkpoints"
    safetensors(ckpts / "sd15.safetensors", ["cond_stage_model.transformer.x", "model.diffusion_model.y"])
    safetensors(ckpts / "sd2.safetensors", ["cond_stage_model.model.x"])
    safetensors(ckpts / "refiner.safetensors", ["conditioner.embedders.0.model.x"])
    safetensors(ckpts / "upscaler-here.safetensors", ["conv_first.weight"])
    (ckpts / "old.ckpt").write_bytes(b"\x80\x02pickle")
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "style.pt").write_bytes(b"\x80\x02pickle")
    return ModelStore(tmp_path, ttl_seconds=0)


def test_the_listing_says_which_models_load_and_why_not(tmp_path: Path) -> None:
    listed = {entry.name: entry.to_public() for entry in store(tmp_path).entries("checkpoints")}
    assert (
        listed["sd15.safetensors"]["loadable"] is True
        and "notLoadableReason" not in listed["sd15.safetensors"]
    )
    # SD 2.x and SDXL refiner files load (nodes/diffusion/sd2_loading.py, refiner_loading.py).
    assert {name for name, entry in listed.items() if not entry["loadable"]} == {
        "upscaler-here.safetensors",
        "old.ckpt",
    }
    assert "not a readable torch weights file" in str(listed["old.ckpt"]["notLoadableReason"])


def test_a_graph_naming_an_unloadable_model_gets_one_issue_per_input(tmp_path: Path) -> None:
    models = store(tmp_path)
    registry = default_registry()
    for name in ("sd15.safetensors", "sd2.safetensors", "refiner.safetensors"):
        graph = text_to_image()
        graph["4"]["inputs"]["ckpt_name"] = name
        assert unloadable_model_issues(graph, registry, models) == []
    for name, why in (
        ("old.ckpt", "not a readable torch weights file"),
        ("upscaler-here.safetensors", "not an SD 1.x"),
    ):
        graph = text_to_image()
        graph["4"]["inputs"]["ckpt_name"] = name
        [issue] = unloadable_model_issues(graph, registry, models)
        assert (issue.type, issue.node_id, issue.class_type, issue.input) == (
            "model_not_loadable",
            "4",
            "CheckpointLoaderSimple",
            "ckpt_name",
        )
        assert name in issue.message and why in issue.message


def test_a_broken_pickled_lora_is_refused_and_nodes_no_output_needs_are_not_checked(tmp_path: Path) -> None:
    models = store(tmp_path)
    graph = text_to_image()
    graph["4"]["inputs"]["ckpt_name"] = "sd15.safetensors"
    graph["10"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "style.pt",
            "strength_model": 1.0,
            "strength_clip": 1.0,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
    }
    assert unloadable_model_issues(graph, default_registry(), models) == []  # no output needs node 10
    graph["3"]["inputs"]["model"] = ["10", 0]
    [issue] = unloadable_model_issues(graph, default_registry(), models)
    assert (issue.node_id, issue.input) == ("10", "lora_name")
    assert "not a readable torch weights file" in issue.message
