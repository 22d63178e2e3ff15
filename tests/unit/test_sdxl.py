"""SDXL: SGM single-file round trip, text encoding against diffusers' own pipeline, UNet inputs, sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.diffusion import ops as diffusion
from nodes.diffusion import sdxl_text
from nodes.diffusion.unet_inputs import unet_kwargs
from tests.unit.test_latent_ops import CTX

PROMPT = "a photo of the cat and the photo"


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from nodes.diffusion.loading import load_checkpoint
    from tiny_models.sdxl import write_tiny_sdxl_diffusers, write_tiny_sdxl_single_file

    root = tmp_path_factory.mktemp("sdxl")
    folder = write_tiny_sdxl_diffusers(root / "tiny-sdxl", seed=0)
    single = write_tiny_sdxl_single_file(root / "tiny-sdxl.safetensors", seed=0)
    return {
        "folder": load_checkpoint(folder, "cpu"),
        "single": load_checkpoint(single, "cpu"),
        "file": single,
    }


def _modules(checkpoint: Any) -> dict[str, Any]:
    return {
        "unet": checkpoint.model.unet,
        "vae": checkpoint.vae.vae,
        "text_encoder": checkpoint.clip.text_encoder,
        "text_encoder_2": checkpoint.clip.text_encoder_2,
    }


def test_single_file_is_in_the_sgm_layout_and_loads_back_to_the_same_weights(sdxl: dict[str, Any]) -> None:
    from nodes.model_family import read_safetensors_header

    header = read_safetensors_header(sdxl["file"])
    bigg = "conditioner.embedders.1.model."
    # OpenCLIP's layout: fused q/k/v (3 x width rows), a right-multiplied projection (width x proj).
    assert header[bigg + "transformer.resblocks.1.attn.in_proj_weight"]["shape"] == [3 * 64, 64]
    assert header[bigg + "text_projection"]["shape"] == [64, 24]
    assert "conditioner.embedders.0.transformer.text_model.encoder.layers.1.mlp.fc2.weight" in header
    assert "model.diffusion_model.label_emb.0.0.weight" in header
    assert "first_stage_model.decoder.conv_in.weight" in header
    assert not any(k.startswith(("unet.", "text_encoder", "vae.")) for k in header)

    folder, single = _modules(sdxl["folder"]), _modules(sdxl["single"])
    for name, module in folder.items():
        expected, loaded = module.state_dict(), single[name].state_dict()
        assert expected.keys() == loaded.keys(), name
        assert all(torch.equal(expected[k], loaded[k]) for k in expected), name
    assert sdxl["single"].model.family == sdxl["folder"].model.family == "sdxl"
    assert sdxl["single"].vae.scaling_factor == 0.13025
    assert sdxl["single"].model.scheduler_config["beta_schedule"] == "scaled_linear"


def test_clip_text_encode_matches_diffusers_sdxl_pipeline(sdxl: dict[str, Any]) -> None:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    checkpoint = sdxl["single"]
    clip = checkpoint.clip
    pipe = StableDiffusionXLPipeline(
        vae=checkpoint.vae.vae,
        text_encoder=clip.text_encoder,
        text_encoder_2=clip.text_encoder_2,
        tokenizer=clip.tokenizer,
        tokenizer_2=clip.tokenizer_2,
        unet=checkpoint.model.unet,
        scheduler=EulerDiscreteScheduler(),
    )
    expected, _, expected_pooled, _ = pipe.encode_prompt(
        PROMPT, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False
    )
    ((embeddings, extras),) = diffusion.clip_text_encode(CTX, PROMPT, clip)[0]
    assert embeddings.shape == (1, 77, 32 + 64)  # CLIP-L width + bigG width
    assert extras["pooled_output"].shape == (1, 24)  # bigG's projection
    torch.testing.assert_close(embeddings, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(extras["pooled_output"], expected_pooled, rtol=0, atol=1e-6)


def test_clip_text_encode_sdxl_carries_sizes_and_splits_prompts(sdxl: dict[str, Any]) -> None:
    clip = sdxl["folder"].clip
    ((embeddings, extras),) = sdxl_text.clip_text_encode_sdxl(
        CTX, clip, 1024, 768, 16, 32, 2048, 1536, text_g="the cat " * 60, text_l="a photo"
    )[0]
    # text_g needs two 75-token windows; text_l gets an empty-prompt window so the two line up.
    assert embeddings.shape == (1, 154, 96)
    assert {k: extras[k] for k in sdxl_text.SIZE_KEYS} == {
        "width": 1024,
        "height": 768,
        "crop_w": 16,
        "crop_h": 32,
        "target_width": 2048,
        "target_height": 1536,
    }
    (same_l,) = sdxl_text.clip_text_encode_sdxl(CTX, clip, 1, 1, 0, 0, 1, 1, text_g="x", text_l="a photo")[0]
    # CLIP-L's half of the first window depends on text_l only.
    torch.testing.assert_close(same_l[0][:, :77, :32], embeddings[:, :77, :32])
    assert not torch.equal(same_l[0][:, :77, 32:], embeddings[:, :77, 32:])


def test_clip_set_last_layer_applies_to_both_encoders(sdxl: dict[str, Any]) -> None:
    clip = sdxl["folder"].clip
    assert clip.last_layer == -2  # SDXL's default: the penultimate layer
    (last,) = diffusion.clip_set_last_layer(CTX, clip, -1)
    ((default, default_extras),) = diffusion.clip_text_encode(CTX, PROMPT, clip)[0]
    ((changed, changed_extras),) = diffusion.clip_text_encode(CTX, PROMPT, last)[0]
    ids_l = torch.tensor([clip.tokenizer(PROMPT, padding="max_length", max_length=77)["input_ids"]])
    out_l = clip.text_encoder(ids_l, output_hidden_states=True)
    torch.testing.assert_close(changed[..., :32], out_l.hidden_states[-1])  # no final layer norm
    assert not torch.equal(changed[..., 32:], default[..., 32:])  # bigG's half moved too
    torch.testing.assert_close(changed_extras["pooled_output"], default_extras["pooled_output"])


def test_clip_text_encode_sdxl_needs_an_sdxl_clip(tmp_path: Path) -> None:
    from nodes.diffusion.loading import load_checkpoint
    from tiny_models.sd15 import write_tiny_sd15_diffusers

    sd15 = load_checkpoint(write_tiny_sd15_diffusers(tmp_path / "sd15", seed=0), "cpu")
    with pytest.raises(ValueError, match="needs an SDXL CLIP"):
        sdxl_text.clip_text_encode_sdxl(CTX, sd15.clip, 64, 64, 0, 0, 64, 64, text_g="a", text_l="a")


def test_unet_kwargs_time_ids_and_pooled(sdxl: dict[str, Any]) -> None:
    model, clip = sdxl["folder"].model, sdxl["folder"].clip
    ((_, extras),) = sdxl_text.clip_text_encode_sdxl(CTX, clip, 1024, 768, 16, 32, 2048, 1536, "a", "b")[0]
    added = unet_kwargs(model, extras, batch=2, latent_hw=(8, 6))["added_cond_kwargs"]
    assert added["text_embeds"].shape == (2, 24)
    assert torch.equal(added["text_embeds"][0], added["text_embeds"][1])
    assert (
        added["time_ids"].tolist() == [[768, 1024, 32, 16, 1536, 2048]] * 2
    )  # (h, w, crop_h, crop_w, th, tw)

    ((_, plain),) = diffusion.clip_text_encode(CTX, "a", clip)[0]
    defaults = unet_kwargs(model, plain, batch=3, latent_hw=(8, 6))["added_cond_kwargs"]
    assert defaults["time_ids"].tolist() == [[64, 48, 0, 0, 64, 48]] * 3  # the latent's pixel size

    with pytest.raises(ValueError, match="pooled text embedding"):
        unet_kwargs(model, {}, batch=1, latent_hw=(8, 8))
    with pytest.raises(ValueError, match="width 24"):
        unet_kwargs(model, {"pooled_output": torch.zeros(1, 32)}, batch=1, latent_hw=(8, 8))


def test_ksampler_on_sdxl_is_deterministic_and_sizes_change_the_result(sdxl: dict[str, Any]) -> None:
    model, clip = sdxl["folder"].model, sdxl["folder"].clip
    (negative,) = diffusion.clip_text_encode(CTX, "blurry", clip)
    latent = {"samples": torch.zeros(2, 4, 8, 8)}

    def run(width: int, crop: int) -> torch.Tensor:
        (positive,) = sdxl_text.clip_text_encode_sdxl(
            CTX, clip, width, width, crop, crop, width, width, "a", "a"
        )
        (out,) = diffusion.ksampler(CTX, model, 5, 2, 7.0, "euler", "normal", positive, negative, latent)
        return out["samples"]

    first = run(1024, 0)
    assert first.shape == (2, 4, 8, 8) and torch.isfinite(first).all()
    assert not torch.equal(first[0], first[1])  # each image in the batch gets its own noise
    assert torch.equal(first, run(1024, 0))
    assert not torch.allclose(first, run(512, 0))
    assert not torch.allclose(first, run(1024, 64))


def _copy_with_sidecar(file: Path, folder: Path, part: str, **config_changes: Any) -> Path:
    """The tiny SDXL file in `folder` as copy.safetensors, its sidecar with `config_changes` in `part`."""
    import json
    import shutil

    folder.mkdir()
    copy = folder / "copy.safetensors"
    shutil.copy(file, copy)
    shutil.copytree(file.with_suffix(".config"), copy.with_suffix(".config"))
    config_file = copy.with_suffix(".config") / part / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), **config_changes}))
    return copy


def test_single_files_that_do_not_fit_fail_with_clear_messages(sdxl: dict[str, Any], tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from nodes.diffusion.sdxl_loading import load_sdxl_single_file

    deeper = _copy_with_sidecar(sdxl["file"], tmp_path / "deeper", "text_encoder_2", num_hidden_layers=3)
    with pytest.raises(ValueError, match=r"text_encoder_2 weights do not match the configs in copy\.config/"):
        load_sdxl_single_file(deeper, "cpu")
    wider = _copy_with_sidecar(sdxl["file"], tmp_path / "wider", "unet", cross_attention_dim=128)
    with pytest.raises(ValueError, match=r"does not match its configs in copy\.config/"):
        load_sdxl_single_file(wider, "cpu")

    state = load_file(str(sdxl["file"]))
    without_bigg = {k: v for k, v in state.items() if not k.startswith("conditioner.embedders.1.")}
    save_file(without_bigg, str(tmp_path / "no-bigg.safetensors"))
    with pytest.raises(
        ValueError, match=r"not a full SDXL checkpoint .* no conditioner\.embedders\.1\.model\.\*"
    ):
        load_sdxl_single_file(tmp_path / "no-bigg.safetensors", "cpu")

    # Without a sidecar CLIP's vocabulary comes from the bundled BPE list and the shipped SDXL base
    # configs apply, which the tiny weights do not fit.
    save_file(state, str(tmp_path / "bare.safetensors"))
    with pytest.raises(ValueError, match="does not match its configs in sdxl/"):
        load_sdxl_single_file(tmp_path / "bare.safetensors", "cpu")
