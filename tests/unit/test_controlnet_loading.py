"""Loading ControlNets from the model store: both formats, the same weights, SDXL, files that do not load.

The tiny ControlNets are written from the tiny SD1.5 UNet as a diffusers folder and as one file in
lllyasviel's original layout (gpu_worker/tiny_controlnet.py), then loaded through the real loader.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodes.controlnet import ops as controlnet
from nodes.controlnet.control import Control
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
    with pytest.raises(ValueError, match=r"only \.safetensors"):
        load_controlnet(pickle, "cpu")
    adapter = tmp_path / "t2iadapter_canny_sd15v2.safetensors"
    save_file({"adapter.conv_in.weight": torch.zeros(1)}, str(adapter))
    with pytest.raises(ValueError, match="T2I-Adapters"):
        load_controlnet(adapter, "cpu")
    lora = tmp_path / "control-lora-canny-rank128.safetensors"
    save_file({"lora_controlnet": torch.zeros(1), "input_hint_block.0.weight": torch.zeros(1)}, str(lora))
    with pytest.raises(ValueError, match="Control-LoRA"):
        load_controlnet(lora, "cpu")
    empty = tmp_path / "folder-without-config"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"without config\.json"):
        load_controlnet(empty, "cpu")


def test_an_sdxl_controlnet_takes_sdxls_added_inputs(tmp_path: Path) -> None:
    """A tiny SDXL-shaped UNet (no attention on the first level, text-and-size embedding) and its
    ControlNet, as a folder and as a diffusers-layout single file (how most SDXL ControlNets ship)."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    from gpu_worker.tiny_controlnet import write_tiny_controlnet
    from nodes.controlnet.loading import CONFIGS, config_dir_for

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(
            sample_size=8,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2),
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            cross_attention_dim=64,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=32 + 6 * 8,
            norm_num_groups=8,
        ).eval()
    unet.save_pretrained(tmp_path / "sdxl" / "unet")
    folder = write_tiny_controlnet(
        tmp_path / "cn-sdxl", checkpoint_dir=tmp_path / "sdxl", seed=0, single_file=False
    )
    cn = load_controlnet(folder, "cpu").model
    single = tmp_path / "cn-sdxl.safetensors"
    save_file({k: v.contiguous() for k, v in cn.state_dict().items()}, str(single))
    assert config_dir_for(single, cn.state_dict()) == CONFIGS / "sdxl"  # no sidecar: the shipped SDXL config
    cn.save_config(single.with_suffix(".config"))
    reloaded = load_controlnet(single, "cpu").model
    before, after = cn.state_dict(), reloaded.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)

    x, t = torch.randn(2, 4, 8, 8), torch.tensor(300.0)
    context = torch.randn(2, 77, 64, generator=torch.Generator().manual_seed(1))
    added = {"text_embeds": torch.randn(2, 32), "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]] * 2)}
    control = Control(reloaded, torch.rand(1, 3, 64, 64), 1.0)
    with torch.inference_mode():
        residuals = control.residuals(
            x=x, t=t, context=context, dtype=torch.float32, unet_kwargs={"added_cond_kwargs": added}
        )
        plain = unet(x, t, encoder_hidden_states=context, added_cond_kwargs=added).sample
        controlled = unet(x, t, encoder_hidden_states=context, added_cond_kwargs=added, **residuals).sample
    assert (plain - controlled).abs().mean() > 1e-3
