"""Loading ControlNets from the model store: both formats, the same weights, SDXL, files that do not load.

The tiny ControlNets are written from the tiny SD1.5 UNet as a diffusers folder and as one file in
lllyasviel's original layout (tiny_models/controlnet.py), then loaded through the real loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.controlnet import ops as controlnet
from nodes.controlnet.loading import load_controlnet
from tests.support.controlnet_models import (
    FOLDER_CONTROLNET,
    OTHER_CONTROLNET,
    SINGLE_FILE_CONTROLNET,
    StoreContext,
)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> StoreContext:
    return StoreContext(tmp_path_factory.mktemp("models"))


def test_the_store_lists_both_formats_but_not_the_sidecar(ctx: StoreContext) -> None:
    formats = {entry.name: entry.format for entry in ctx.store.entries("controlnet")}
    assert formats == {
        FOLDER_CONTROLNET: "diffusers",
        SINGLE_FILE_CONTROLNET: "single_file",
        OTHER_CONTROLNET: "single_file",
    }


def test_the_single_file_loads_the_same_weights_as_the_folder(ctx: StoreContext) -> None:
    (folder,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    (single,) = controlnet.controlnet_loader(ctx, SINGLE_FILE_CONTROLNET)
    a, b = folder.model.state_dict(), single.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    # Trained-looking zero convolutions: not zero, or the ControlNet would change nothing.
    assert folder.model.controlnet_mid_block.weight.abs().sum() > 0
    # Loaded once each, then served from the model cache.
    controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    assert (
        "controlnet",
        str(ctx.model_path("controlnet", FOLDER_CONTROLNET)),
        "cpu",
    ) in ctx.models._entries


def test_the_other_single_file_layouts_load_the_same_weights(ctx: StoreContext, tmp_path: Path) -> None:
    """Original keys without the ``control_model.`` prefix, and a diffusers-layout single file."""
    import shutil

    from safetensors.torch import load_file, save_file

    source = ctx.model_path("controlnet", SINGLE_FILE_CONTROLNET)
    (folder,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    expected = folder.model.state_dict()
    bare = {k.removeprefix("control_model."): v for k, v in load_file(str(source)).items()}
    layouts = {"bare.safetensors": bare, "diffusers.safetensors": expected}
    for name, state in layouts.items():
        path = tmp_path / name
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
        shutil.copytree(source.with_suffix(".config"), path.with_suffix(".config"))
        loaded = load_controlnet(path, "cpu").model.state_dict()
        assert loaded.keys() == expected.keys()
        assert all(torch.equal(loaded[k], expected[k]) for k in expected), name


def test_files_that_are_not_controlnets_fail_with_a_clear_message(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    pickle = tmp_path / "control_sd15_canny.pth"
    pickle.write_bytes(b"not loaded")
    with pytest.raises(ValueError, match=r"not a readable torch weights file"):
        load_controlnet(pickle, "cpu")
    adapter = tmp_path / "t2iadapter_canny_sd15v2.safetensors"
    save_file({"adapter.conv_in.weight": torch.zeros(1)}, str(adapter))
    with pytest.raises(ValueError, match="T2I-Adapters"):
        load_controlnet(adapter, "cpu")
    lora = tmp_path / "control-lora-canny-rank128.safetensors"
    save_file({"lora_controlnet": torch.zeros(1), "input_hint_block.0.weight": torch.zeros(1)}, str(lora))
    with pytest.raises(ValueError, match="Control-LoRA"):
        load_controlnet(lora, "cpu")
    sdxl_original = tmp_path / "controlnet-sdxl-original.safetensors"
    save_file(
        {
            "control_model.label_emb.0.0.weight": torch.zeros(1),
            "control_model.input_hint_block.0.weight": torch.zeros(1),
        },
        str(sdxl_original),
    )
    with pytest.raises(ValueError, match="SDXL ControlNet in the original"):
        load_controlnet(sdxl_original, "cpu")
    empty = tmp_path / "folder-without-config"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"without config\.json"):
        load_controlnet(empty, "cpu")


def test_an_sdxl_controlnet_samples_with_the_sdxl_checkpoint(ctx: StoreContext, tmp_path: Path) -> None:
    """A ControlNet of the tiny SDXL checkpoint's UNet, as a folder and as a diffusers-layout single file
    (how most SDXL ControlNets ship), through KSampler with SDXL's pooled text and size inputs."""
    from safetensors.torch import save_file

    from nodes.controlnet.loading import CONFIGS, config_dir_for
    from nodes.diffusion import ops as diffusion
    from nodes.diffusion.loading import load_checkpoint
    from tiny_models.controlnet import write_tiny_controlnet
    from tiny_models.sdxl import write_tiny_sdxl_diffusers

    checkpoint_dir = write_tiny_sdxl_diffusers(tmp_path / "tiny-sdxl", seed=0)
    folder = write_tiny_controlnet(
        tmp_path / "cn-sdxl", checkpoint_dir=checkpoint_dir, seed=0, single_file=False
    )
    cn = load_controlnet(folder, "cpu")
    single = tmp_path / "cn-sdxl.safetensors"
    save_file({k: v.contiguous() for k, v in cn.model.state_dict().items()}, str(single))
    assert config_dir_for(single, cn.model.state_dict()) == CONFIGS / "sdxl"  # no sidecar: the shipped config
    cn.model.save_config(single.with_suffix(".config"))
    reloaded = load_controlnet(single, "cpu")
    before, after = cn.model.state_dict(), reloaded.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)

    checkpoint = load_checkpoint(checkpoint_dir, "cpu")
    assert checkpoint.model.family == "sdxl"
    (positive,) = diffusion.clip_text_encode(ctx, "a photo of a cat", checkpoint.clip)
    (negative,) = diffusion.clip_text_encode(ctx, "blurry", checkpoint.clip)

    def sample(pos: Any, neg: Any) -> torch.Tensor:
        latent = {"samples": torch.zeros(1, 4, 8, 8)}
        (out,) = diffusion.ksampler(ctx, checkpoint.model, 5, 2, 7.0, "euler", "normal", pos, neg, latent)
        return out["samples"]

    hint = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    pos, neg = controlnet.controlnet_apply_advanced(ctx, positive, negative, reloaded, hint, 1.0, 0.0, 1.0)
    controlled = sample(pos, neg)
    assert (controlled - sample(positive, negative)).abs().mean() > 1e-3
    assert torch.equal(controlled, sample(pos, neg))
