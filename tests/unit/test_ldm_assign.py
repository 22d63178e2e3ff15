"""Single-file SD1 components built on the meta device with the file's own tensors (no second copy)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodes.diffusion.ldm_assign import clip_from_ldm, unet_from_ldm, vae_from_ldm
from nodes.weights_file import read_weights
from tiny_models.sd15 import write_tiny_sd15_single_file


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_sd15_single_file(tmp_path_factory.mktemp("assign") / "tiny.safetensors", seed=3)


def reference(checkpoint: Path, part: str) -> dict[str, torch.Tensor]:
    """The same component through diffusers' own from_single_file (random init, then a copy)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
    from transformers import CLIPTextModel

    state = read_weights(checkpoint)
    common = {"config": str(checkpoint.with_suffix(".config")), "local_files_only": True, "subfolder": part}
    if part == "unet":
        return UNet2DConditionModel.from_single_file(state, **common).state_dict()
    if part == "vae":
        return AutoencoderKL.from_single_file(state, **common).state_dict()
    return create_diffusers_clip_model_from_ldm(CLIPTextModel, state, **common).state_dict()


def test_the_modules_hold_the_files_tensors_themselves(checkpoint: Path) -> None:
    state = read_weights(checkpoint)
    conv_in = state["model.diffusion_model.input_blocks.0.0.weight"]
    config_dir = checkpoint.with_suffix(".config")
    unet = unet_from_ldm(state, config_dir, torch.float32)
    assert unet.conv_in.weight.data_ptr() == conv_in.data_ptr()  # assigned, not copied
    assert not any(key.startswith("model.diffusion_model.") for key in state)  # and let go of
    vae = vae_from_ldm(state, config_dir)
    text_encoder = clip_from_ldm(state, config_dir, torch.float32)
    for module, part in ((unet, "unet"), (vae, "vae"), (text_encoder, "text_encoder")):
        ours, theirs = module.state_dict(), reference(checkpoint, part)
        assert ours.keys() == theirs.keys(), part
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs), part
        assert not any(t.is_meta for t in [*module.parameters(), *module.buffers()]), part
    positions = dict(text_encoder.named_buffers())
    assert any(name.endswith("position_ids") for name in positions)


def test_float16_components_are_cast_as_they_are_built(checkpoint: Path) -> None:
    state = read_weights(checkpoint)
    config_dir = checkpoint.with_suffix(".config")
    unet = unet_from_ldm(state, config_dir, torch.float16)
    vae = vae_from_ldm(state, config_dir)
    text_encoder = clip_from_ldm(state, config_dir, torch.float16)
    assert {p.dtype for p in unet.parameters()} == {torch.float16}
    assert {p.dtype for p in text_encoder.parameters()} == {torch.float16}
    assert {p.dtype for p in vae.parameters()} == {torch.float32}  # SD1's VAE overflows in float16
    theirs = reference(checkpoint, "unet")
    assert all(torch.equal(unet.state_dict()[k], theirs[k].half()) for k in theirs)


def test_a_file_missing_weights_is_a_clear_error(checkpoint: Path) -> None:
    state = read_weights(checkpoint)
    del state["model.diffusion_model.out.2.weight"]
    with pytest.raises(ValueError, match=r"no UNet weights for 1 tensors \(conv_out\.weight\)"):
        unet_from_ldm(state, checkpoint.with_suffix(".config"), torch.float32)
