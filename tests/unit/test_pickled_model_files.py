"""Model files as users have them: ``.ckpt``/``.pt``/``.pth`` weights load with weights-only unpickling,
a pickle that needs code is refused (and its code never runs), and Windows separators find the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nodes.catalog import default_registry
from nodes.diffusion import ops as diffusion
from nodes.graph import validate_graph
from nodes.model_check import unloadable_model_issues
from nodes.model_family import model_family, tensor_table
from nodes.model_store import ModelNotFound, ModelStore
from nodes.pickled_weights import scan_pickled
from nodes.weights_file import read_weights
from tests.support.graphs import text_to_image
from tests.support.node_context import NodeTestContext
from tiny_models.lora import write_tiny_lora
from tiny_models.sd15 import write_tiny_sd15_single_file

CKPT = "v1-5-pruned-emaonly.ckpt"


class Payload:
    """What a malicious checkpoint carries: unpickling it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pickled-models")
    write_tiny_sd15_single_file(root / "checkpoints" / CKPT, seed=0)
    write_tiny_sd15_single_file(root / "checkpoints" / "Anime" / "model.safetensors", seed=0)
    base = root / "checkpoints" / CKPT
    for name in ("style.safetensors", "style.pth", "style.pt"):
        write_tiny_lora(root / "loras" / name, checkpoint_dir=base, seed=1, layout="kohya_ldm")
    return root


def evil_file(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"model.diffusion_model.x": torch.zeros(1)}, "hook": Payload(marker)}, path)
    return path


def test_the_ckpt_is_a_training_checkpoint_and_its_family_is_read_without_torch_load(root: Path) -> None:
    path = root / "checkpoints" / CKPT
    assert set(torch.load(path, weights_only=True)) == {"state_dict"}  # as real .ckpt files wrap it
    table = scan_pickled(path)
    assert table.refusal is None
    same = tensor_table(root / "checkpoints" / "Anime" / "model.safetensors")
    assert {k: v["shape"] for k, v in table.tensors.items()} == {k: v["shape"] for k, v in same.items()}
    assert model_family(path) == "sd15"
    entry = next(e for e in ModelStore(root).entries("checkpoints") if e.name == CKPT)
    assert (entry.family, entry.refusal) == ("sd15", None)


def test_a_ckpt_gives_the_same_weights_and_image_as_the_same_safetensors(root: Path) -> None:
    ckpt = read_weights(root / "checkpoints" / CKPT)
    same = read_weights(root / "checkpoints" / "Anime" / "model.safetensors")
    assert ckpt.keys() == same.keys() and all(torch.equal(ckpt[k], same[k]) for k in same)
    ctx = NodeTestContext(root)
    model, clip, _ = diffusion.checkpoint_loader_simple(ctx, CKPT)
    other, _, _ = diffusion.checkpoint_loader_simple(ctx, "Anime\\model.safetensors")
    unet, reference = model.unet.state_dict(), other.unet.state_dict()
    assert all(torch.equal(unet[k], reference[k]) for k in reference)
    (cond,) = diffusion.clip_text_encode(ctx, "a cat", clip)
    assert torch.isfinite(cond[0][0]).all()


def test_a_lora_as_pth_or_pt_holds_the_same_tensors_as_its_safetensors(root: Path) -> None:
    from nodes.lora.weights import load_lora

    reference = read_weights(root / "loras" / "style.safetensors")
    for name in ("style.pth", "style.pt"):
        loaded = read_weights(root / "loras" / name, "LoRA")
        assert loaded.keys() == reference.keys()
        assert all(torch.equal(loaded[k], reference[k]) for k in reference)
        lora = load_lora(root / "loras" / name, name, "cpu")
        assert len(lora.layers) == len(load_lora(root / "loras" / "style.safetensors", "s", "cpu").layers) > 0
        assert model_family(root / "loras" / name) == "sd15"
    assert ModelStore(root).refusals("loras") == {}


def test_a_pickle_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = evil_file(tmp_path / "checkpoints" / "evil.ckpt", marker)
    scan = scan_pickled(path)
    assert scan.tensors == {} and scan.refusal is not None and "system" in scan.refusal
    assert "would run code" in scan.refusal
    with pytest.raises(ValueError, match=r"Checkpoint 'evil\.ckpt' is a pickle that needs \S*system"):
        read_weights(path, "Checkpoint")
    ctx = NodeTestContext(tmp_path)
    with pytest.raises(ValueError, match=r"evil\.ckpt.*would run code"):
        diffusion.checkpoint_loader_simple(ctx, "evil.ckpt")
    store = ModelStore(tmp_path, ttl_seconds=0)
    [entry] = store.entries("checkpoints")
    public = entry.to_public()
    assert public["loadable"] is False and "would run code" in str(public["notLoadableReason"])
    graph = text_to_image()
    graph["4"]["inputs"]["ckpt_name"] = "evil.ckpt"
    [issue] = unloadable_model_issues(graph, default_registry(), store)
    assert (issue.type, issue.node_id, issue.input) == ("model_not_loadable", "4", "ckpt_name")
    assert not marker.exists()


def test_a_file_in_torchs_format_before_zip_loads_too(tmp_path: Path) -> None:
    path = tmp_path / "old.pth"
    torch.save({"conv_first.weight": torch.ones(2, 3)}, path, _use_new_zipfile_serialization=False)
    assert scan_pickled(path).tensors == {"conv_first.weight": {"shape": [2, 3]}}
    assert torch.equal(read_weights(path)["conv_first.weight"], torch.ones(2, 3))


def test_windows_separators_find_the_file_and_never_leave_the_store(root: Path, tmp_path: Path) -> None:
    store = ModelStore(root, ttl_seconds=0)
    found = store.path("checkpoints", "Anime\\model.safetensors")
    assert found == root / "checkpoints" / "Anime" / "model.safetensors"
    outside = root / "secret.safetensors"
    outside.write_bytes(b"")
    for name in ("..\\secret.safetensors", "..\\..\\etc\\passwd", "Anime\\..\\..\\secret.safetensors"):
        with pytest.raises(ModelNotFound):
            store.path("checkpoints", name)
    graph = text_to_image()
    graph["4"]["inputs"]["ckpt_name"] = "Anime\\model.safetensors"
    choices = {"checkpoints": store.names("checkpoints"), "files": []}
    assert validate_graph(graph, default_registry(), dynamic_choices=choices) == []
    assert unloadable_model_issues(graph, default_registry(), store) == []
    graph["4"]["inputs"]["ckpt_name"] = "..\\..\\etc\\passwd"
    [issue] = validate_graph(graph, default_registry(), dynamic_choices=choices)
    assert (issue.type, issue.input) == ("value_not_in_list", "ckpt_name")
