"""diffusion_models/ and text_encoders/ (with ComfyUI's legacy unet/ and clip/): listed by family from
the header alone, and a file no split loader builds is refused at validation. No torch here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nodes.catalog import default_registry
from nodes.model_check import unloadable_model_issues
from nodes.model_store import ModelStore


def safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    header = {k: {"dtype": "F16", "shape": s, "data_offsets": [0, 0]} for k, s in shapes.items()}
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)


FLUX = {"double_blocks.0.img_attn.qkv.weight": [9216, 3072], "img_in.weight": [3072, 64]}
DEV = {**FLUX, "guidance_in.in_layer.weight": [3072, 256]}
T5 = {"shared.weight": [32128, 4096], "encoder.block.0.layer.0.SelfAttention.q.weight": [4096, 4096]}
CLIP_L = {
    "text_model.encoder.layers.0.self_attn.q_proj.weight": [768, 768],
    "text_model.embeddings.token_embedding.weight": [49408, 768],
}
SD3 = {"joint_blocks.0.x_block.attn.qkv.weight": [4608, 1536], "x_embedder.proj.weight": [1536, 16, 2, 2]}
CLIP_G = {
    "text_model.encoder.layers.0.self_attn.q_proj.weight": [1280, 1280],
    "text_model.embeddings.token_embedding.weight": [49408, 1280],
}


def _store(root: Path) -> ModelStore:
    safetensors(root / "diffusion_models" / "flux1-dev.safetensors", DEV)
    safetensors(root / "unet" / "flux1-schnell.safetensors", FLUX)  # the legacy folder
    safetensors(root / "unet" / "flux1-dev.safetensors", FLUX)  # shadowed by diffusion_models/
    safetensors(root / "diffusion_models" / "sd3.5_medium.safetensors", SD3)
    safetensors(root / "diffusion_models" / "a-unet.safetensors", {"input_blocks.0.0.weight": [320, 4, 3, 3]})
    (root / "diffusion_models" / "old.pt").write_bytes(b"\x80\x02pickle")
    safetensors(root / "text_encoders" / "t5xxl_fp16.safetensors", T5)
    safetensors(root / "clip" / "clip_l.safetensors", CLIP_L)
    safetensors(root / "clip" / "clip_g.safetensors", CLIP_G)
    safetensors(
        root / "checkpoints" / "flux1-dev-fp8.safetensors",
        {f"model.diffusion_model.{k}": s for k, s in DEV.items()},
    )
    return ModelStore(root, ttl_seconds=0)


def test_split_files_are_listed_by_family_across_the_new_and_legacy_folders(tmp_path: Path) -> None:
    store = _store(tmp_path)
    models = {e.name: (e.family, e.refusal is None) for e in store.entries("diffusion_models")}
    assert models == {
        "a-unet.safetensors": ("sd15", False),
        "flux1-dev.safetensors": ("flux_dev", True),
        "flux1-schnell.safetensors": ("flux_schnell", True),
        "old.pt": ("unknown", False),
        "sd3.5_medium.safetensors": ("sd3", True),
    }
    assert store.path("diffusion_models", "flux1-dev.safetensors").parent.name == "diffusion_models"
    encoders = {e.name: e.family for e in store.entries("text_encoders")}
    assert encoders == {
        "t5xxl_fp16.safetensors": "t5xxl",
        "clip_l.safetensors": "clip_l",
        "clip_g.safetensors": "clip_g",
    }
    (checkpoint,) = store.entries("checkpoints")
    assert (checkpoint.family, checkpoint.refusal) == ("flux_dev", None)


def test_a_graph_naming_a_file_no_loader_builds_is_refused_by_node_and_input(tmp_path: Path) -> None:
    store = _store(tmp_path)
    # Only what the outputs need is checked (model_check walks back from them); link types are not.
    graph: dict = {
        node_id: {"class_type": "UNETLoader", "inputs": {"unet_name": name, "weight_dtype": "default"}}
        for node_id, name in (("1", "a-unet.safetensors"), ("2", "old.pt"), ("3", "flux1-dev.safetensors"))
    }
    for node_id in ("1", "2", "3"):
        graph[f"9{node_id}"] = {
            "class_type": "SaveImage",
            "inputs": {"images": [node_id, 0], "filename_prefix": "x"},
        }
    issues = {
        (i.node_id, i.input): i.message for i in unloadable_model_issues(graph, default_registry(), store)
    }
    assert set(issues) == {("1", "unet_name"), ("2", "unet_name")}
    assert "not a diffusion model UNETLoader builds" in issues[("1", "unet_name")]
    assert "its family is 'sd15'" in issues[("1", "unet_name")]
    # A file that is no torch pickle at all is refused by the weights-only scan before anything else.
    assert "not a readable torch weights file" in issues[("2", "unet_name")]


def test_the_family_table_imports_no_torch() -> None:
    modules = "nodes.loaders.families, nodes.loaders.specs, nodes.flux.specs, nodes.model_store"
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_text_encoder_device_is_a_checked_worker_setting(monkeypatch) -> None:
    import pytest

    from gpu_worker.config import ConfigError, WorkerConfig

    monkeypatch.setenv("TEXT_ENCODER_DEVICE", "cpu")
    assert WorkerConfig.from_env().text_encoder_device == "cpu"
    monkeypatch.setenv("TEXT_ENCODER_DEVICE", "gpu")
    with pytest.raises(ConfigError, match="TEXT_ENCODER_DEVICE must be one of default, cpu, got 'gpu'"):
        WorkerConfig.from_env()


def test_a_clip_loader_whose_files_cannot_make_its_type_is_refused_at_validation(tmp_path: Path) -> None:
    store = _store(tmp_path)
    graph: dict = {
        "1": {
            "class_type": "DualCLIPLoader",
            "inputs": {
                "clip_name1": "clip_l.safetensors",
                "clip_name2": "clip_g.safetensors",
                "type": "flux",
            },
        },
        "2": {
            "class_type": "DualCLIPLoader",
            "inputs": {
                "clip_name1": "t5xxl_fp16.safetensors",
                "clip_name2": "clip_l.safetensors",
                "type": "flux",
            },
        },
        "3": {
            "class_type": "TripleCLIPLoader",
            "inputs": {
                "clip_name1": "clip_l.safetensors",
                "clip_name2": "clip_l.safetensors",  # SD3 takes each family once
                "clip_name3": "t5xxl_fp16.safetensors",
            },
        },
        "4": {
            "class_type": "CLIPLoader",
            "inputs": {"clip_name": "clip_l.safetensors", "type": "stable_diffusion"},
        },
    }
    for node_id in ("1", "2", "3", "4"):
        graph[f"9{node_id}"] = {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "x", "clip": [node_id, 0]},
        }
        graph[f"8{node_id}"] = {
            "class_type": "SaveImage",
            "inputs": {"images": [f"9{node_id}", 0], "filename_prefix": "x"},
        }
    issues = {
        (i.node_id, i.input): i.message for i in unloadable_model_issues(graph, default_registry(), store)
    }
    assert set(issues) == {("1", "type"), ("3", "clip_name1")}
    expected = "'flux' takes clip_l + t5xxl text encoders, but these files are "
    expected += "clip_name1: clip_l, clip_name2: clip_g"
    assert expected in issues[("1", "type")]
    assert "type 'sd3' takes some of clip_l, clip_g, t5xxl (each once)" in issues[("3", "clip_name1")]
