"""Wan 2.1: the original key layout, detection, the loaders, the family call, UMT5 text, the video VAE
and the video nodes, on tiny real models (and the shipped configs at the real sizes, from shapes only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.support.node_context import NodeTestContext

T2V = "wan2.1_t2v_1.3B_fp16.safetensors"
I2V = "wan2.1_i2v_480p_14B_fp16.safetensors"
UMT5 = "umt5_xxl_fp16.safetensors"
VAE = "wan_2.1_vae.safetensors"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models.wan import write_tiny_wan_store

    root = tmp_path_factory.mktemp("wan-models")
    write_tiny_wan_store(root, seed=0)
    return root


@pytest.fixture(scope="module")
def ctx(store: Path) -> NodeTestContext:
    return NodeTestContext(store)


def _diffusers_model(store: Path, name: str) -> Any:
    """The diffusers module the tiny file was written from (same config, same seed)."""
    from diffusers import WanTransformer3DModel

    from tiny_models.wan import transformer_config

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10)
        return WanTransformer3DModel(**transformer_config(i2v=name == I2V)).eval()


def _header(state: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    return {prefix + k: {"dtype": "F16", "shape": list(v.shape)} for k, v in state.items()}


def test_original_to_diffusers_matches_diffusers_own_converter_with_the_image_projection() -> None:
    from diffusers import WanTransformer3DModel
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    from nodes.wan.layout import diffusers_to_original, original_to_diffusers

    model = WanTransformer3DModel(
        num_attention_heads=2, attention_head_dim=12, in_channels=36, text_dim=32, freq_dim=16, ffn_dim=32,
        num_layers=2, image_dim=24, added_kv_proj_dim=24,
    )  # fmt: skip
    state = model.state_dict()
    original = diffusers_to_original(state)
    assert {"blocks.1.self_attn.q.weight", "head.head.weight", "img_emb.proj.4.bias"} <= set(original)
    ours = original_to_diffusers(original)
    theirs = convert_wan_transformer_to_diffusers(dict(original))
    assert set(ours) == set(theirs) == set(state)
    assert all(ours[k] is theirs[k] for k in ours)


def test_an_unknown_key_is_refused_not_dropped() -> None:
    from nodes.wan.layout import original_to_diffusers

    with pytest.raises(ValueError, match="unknown keys"):
        original_to_diffusers({"blocks.0.self_attn.q.weight": torch.zeros(1), "vace_blocks.0.x.weight": 0})


def test_files_are_detected_from_their_headers(store: Path) -> None:
    from nodes.loaders.families import split_family
    from nodes.model_family import model_family, read_safetensors_header

    assert model_family(store / "diffusion_models" / T2V) == "wan21_t2v"
    assert model_family(store / "diffusion_models" / I2V) == "wan21_i2v"
    assert model_family(store / "text_encoders" / UMT5) == "umt5xxl"
    assert model_family(store / "vae" / VAE) == "wan_vae"
    # ComfyUI's checkpoint-style prefix, and T5 (one relative bias, a 32k vocabulary) stays T5.
    header = read_safetensors_header(store / "diffusion_models" / T2V)
    prefixed = {f"model.diffusion_model.{k}": v for k, v in header.items()}
    assert split_family(prefixed) == "wan21_t2v"
    t5 = {
        "shared.weight": {"shape": [32128, 4096]},
        "encoder.block.0.layer.0.SelfAttention.q.weight": {"shape": [4096, 4096]},
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": {"shape": [32, 64]},
    }
    assert split_family(t5) == "t5xxl"
    assert split_family({**t5, "shared.weight": {"shape": [256384, 4096]}}) == "umt5xxl"


SHIPPED_SIZES = [
    ("t2v_1.3B", 16, None),
    ("t2v_14B", 16, None),
    ("i2v_14B", 36, 1280),
    ("i2v_14B_2.2", 36, None),
]


@pytest.mark.parametrize(("name", "in_channels", "image_dim"), SHIPPED_SIZES)
def test_the_shipped_configs_fit_the_real_files_shapes(
    tmp_path: Path, name: str, in_channels: int, image_dim
) -> None:
    from diffusers import WanTransformer3DModel

    from nodes.wan.layout import diffusers_to_original
    from nodes.wan.loading import CONFIG_DIR, transformer_config

    config = json.loads((CONFIG_DIR / name / "transformer" / "config.json").read_text())
    with torch.device("meta"):  # the real sizes without the memory: only the shapes are read
        model = WanTransformer3DModel(**{k: v for k, v in config.items() if not k.startswith("_")})
    header = _header(diffusers_to_original(model.state_dict()), "model.diffusion_model.")
    found = transformer_config(tmp_path / "wan.safetensors", header, "model.diffusion_model.")
    assert (found["in_channels"], found["image_dim"]) == (in_channels, image_dim)
    assert found["num_attention_heads"] * found["attention_head_dim"] == (1536 if "1.3B" in name else 5120)


def test_a_file_that_fits_no_config_fails_before_building(store: Path, tmp_path: Path) -> None:
    from nodes.wan.loading import load_wan_diffusion_model

    path = tmp_path / T2V
    shutil.copy(store / "diffusion_models" / T2V, path)  # no sidecar: width 24 fits no shipped model
    with pytest.raises(ValueError, match=r"width 24 with 16 input channels.*t2v_1\.3B"):
        load_wan_diffusion_model(path, "cpu")


def test_a_file_loads_to_the_network_it_was_written_from(ctx: NodeTestContext, store: Path) -> None:
    from nodes.loaders.ops import unet_loader

    (model,) = unet_loader(ctx, T2V)
    reference = _diffusers_model(store, T2V)
    x, context = torch.randn(1, 16, 2, 4, 6), torch.randn(1, 7, 32)
    t = torch.tensor([500.0])
    want = reference(hidden_states=x, timestep=t, encoder_hidden_states=context, return_dict=False)[0]
    from nodes.wan.call import wan_call

    got = wan_call(model, x, t, context, {})
    torch.testing.assert_close(got, want)
    assert model.family == "wan" and model.model_sampling.shift == 8.0


def test_odd_latent_sides_are_padded_to_the_patch_and_cropped_back(ctx: NodeTestContext) -> None:
    from nodes.loaders.ops import unet_loader
    from nodes.wan.call import wan_call

    (model,) = unet_loader(ctx, T2V)
    out = wan_call(model, torch.randn(1, 16, 3, 5, 7), torch.tensor([10.0]), torch.randn(1, 4, 32), {})
    assert out.shape == (1, 16, 3, 5, 7) and torch.isfinite(out).all()


def test_clip_text_encode_on_a_wan_clip_is_umt5_up_to_the_end_token_then_zeros(ctx: NodeTestContext) -> None:
    from nodes.diffusion.ops import clip_text_encode
    from nodes.loaders.ops import clip_loader

    (clip,) = clip_loader(ctx, UMT5, "wan")
    [[context, extras]] = clip_text_encode(ctx, "a cat", clip)[0]
    ids = clip.t5_tokenizer("a cat", add_special_tokens=True)["input_ids"]
    assert ids[-1] == clip.t5_tokenizer.eos_token_id
    want = clip.t5_encoder(input_ids=torch.tensor([ids])).last_hidden_state
    assert context.shape == (1, 512, 32) and extras == {}
    torch.testing.assert_close(context[:, : len(ids)], want)
    assert not context[:, len(ids) :].any()


def test_a_umt5_without_its_tokenizer_says_where_to_put_it(store: Path, tmp_path: Path) -> None:
    from nodes.wan.text import load_umt5_encoder

    path = tmp_path / UMT5
    shutil.copy(store / "text_encoders" / UMT5, path)
    with pytest.raises(ValueError, match=r"umt5_xxl_fp16\.tokenizer/.*umt5_tokenizer/"):
        load_umt5_encoder(path, "cpu")


def test_the_video_vae_keeps_the_frame_count_and_normalises_latents(
    ctx: NodeTestContext, store: Path
) -> None:
    from nodes.diffusion.single_file import load_vae
    from nodes.latent.ops import vae_decode, vae_encode
    from nodes.wan.vae import VideoVaeHandle

    vae = load_vae(store / "vae" / VAE, "cpu")
    assert isinstance(vae, VideoVaeHandle)
    frames = torch.rand(9, 32, 48, 3)
    (latent,) = vae_encode(ctx, frames, vae)
    assert latent["samples"].shape == (1, 16, 3, 4, 6)  # 1 + (9 - 1) // 4 latent frames, 1/8 the size
    raw = vae.vae.encode(frames.permute(3, 0, 1, 2)[None] * 2 - 1).latent_dist.mode()
    mean = torch.tensor(vae.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.latents_std).view(1, -1, 1, 1, 1)
    torch.testing.assert_close(latent["samples"], (raw - mean) / std)
    (images,) = vae_decode(ctx, latent, vae)
    assert images.shape == (9, 32, 48, 3) and 0.0 <= images.min() and images.max() <= 1.0


def test_empty_hunyuan_latent_video_is_wan_s_latent_shape(ctx: NodeTestContext) -> None:
    from nodes.wan.ops import empty_hunyuan_latent_video

    (latent,) = empty_hunyuan_latent_video(ctx, 832, 480, 33, 2)
    assert latent["samples"].shape == (2, 16, 9, 60, 104) and not latent["samples"].any()


def test_wan_image_to_video_conditions_the_i2v_model_on_its_start_image(
    ctx: NodeTestContext, store: Path
) -> None:
    from nodes.clip_vision.encode import clip_vision_encode
    from nodes.clip_vision.loading import load_clip_vision
    from nodes.diffusion.ops import clip_text_encode, ksampler
    from nodes.diffusion.single_file import load_vae
    from nodes.loaders.ops import clip_loader, unet_loader
    from nodes.wan.ops import wan_image_to_video

    vae = load_vae(store / "vae" / VAE, "cpu")
    (clip,) = clip_loader(ctx, UMT5, "wan")
    (model,) = unet_loader(ctx, I2V)
    (pos,), (neg,) = clip_text_encode(ctx, "a cat", clip), clip_text_encode(ctx, "", clip)
    vision = load_clip_vision(store / "clip_vision" / "clip_vision_h.safetensors", "cpu")

    def run(image: torch.Tensor) -> tuple[Any, torch.Tensor]:
        (seen,) = clip_vision_encode(ctx, vision, image, "none")
        p, n, latent = wan_image_to_video(ctx, pos, neg, vae, 48, 32, 9, 1, seen, image)
        return p, ksampler(ctx, model, 3, 2, 5.0, "euler", "simple", p, n, latent, 1.0)[0]["samples"]

    conditioned, first = run(torch.zeros(1, 40, 60, 3))
    extras = conditioned[0][1]
    assert extras["concat_latent_image"].shape == (1, 16, 3, 4, 6)
    assert extras["concat_mask"][0, 0, :, 0, 0].tolist() == [0.0, 1.0, 1.0]  # only the first frame is given
    _, second = run(torch.ones(1, 40, 60, 3))
    assert first.shape == (1, 16, 3, 4, 6) and not torch.allclose(first, second)
    assert extras["clip_vision_output"].penultimate_hidden_states.shape[-1] == 32
    p, n, latent = wan_image_to_video(ctx, pos, neg, vae, 48, 32, 9, 1, None, torch.zeros(1, 32, 48, 3))
    with pytest.raises(ValueError, match="CLIP vision output"):  # the 14B I2V's image tokens are needed
        ksampler(ctx, model, 3, 1, 5.0, "euler", "simple", p, n, latent, 1.0)
    with pytest.raises(ValueError, match="WanImageToVideo"):  # the I2V model without a start image
        ksampler(
            ctx, model, 3, 1, 5.0, "euler", "simple", pos, neg, {"samples": torch.zeros(1, 16, 3, 4, 6)}, 1.0
        )


def test_the_scaled_fp8_umt5_loads_dequantized_and_encodes_as_the_full_file(ctx: NodeTestContext) -> None:
    from safetensors.torch import load_file

    from nodes.diffusion.ops import clip_text_encode
    from nodes.loaders.ops import clip_loader

    scaled_name = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    raw = load_file(ctx.model_path("text_encoders", scaled_name))
    key = "encoder.block.0.layer.0.SelfAttention.q.weight"
    assert raw[key].dtype == torch.float8_e4m3fn and "scaled_fp8" in raw
    (scaled,) = clip_loader(ctx, scaled_name, "wan")
    q = scaled.t5_encoder.state_dict()[key]
    torch.testing.assert_close(q, raw[key].float() * raw[key.removesuffix("weight") + "scale_weight"])
    (full,) = clip_loader(ctx, UMT5, "wan")
    [[a, _]] = clip_text_encode(ctx, "a cat", scaled)[0]
    [[b, _]] = clip_text_encode(ctx, "a cat", full)[0]
    assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.99  # fp8 rounding only


def test_a_scaled_fp8_wan_file_loads_dequantized(store: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from nodes.wan.call import wan_call
    from nodes.wan.loading import load_wan_diffusion_model

    source = store / "diffusion_models" / T2V
    state = load_file(source)
    scaled: dict[str, torch.Tensor] = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for key, value in state.items():  # ComfyUI's *_fp8_scaled form: float8 weights, a scale beside each
        if key.endswith(".weight") and value.dim() == 2:
            scale = value.abs().max() / 448.0
            scaled[key] = (value / scale).to(torch.float8_e4m3fn)
            scaled[key.removesuffix("weight") + "scale_weight"] = scale.reshape(())
        else:
            scaled[key] = value
    path = tmp_path / "wan2.1_t2v_1.3B_fp8_scaled.safetensors"
    save_file({f"model.diffusion_model.{k}": v for k, v in scaled.items()}, path)
    shutil.copytree(source.with_suffix(".config"), path.with_suffix(".config"))
    model, full = load_wan_diffusion_model(path, "cpu"), load_wan_diffusion_model(source, "cpu")
    x, t, context = torch.randn(1, 16, 2, 4, 6), torch.tensor([300.0]), torch.randn(1, 5, 32)
    a, b = wan_call(model, x, t, context, {}), wan_call(full, x, t, context, {})
    assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.99  # fp8 rounding only
