"""LTX-Video: the checkpoint's key layout, detection, loading, the family call, T5 text, the video VAE
and the nodes (scheduler numbers included), on the tiny real checkpoint (and the shipped 2B 0.9.5
configs at the real sizes, from shapes only)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.support.node_context import NodeTestContext

CKPT = "ltx-video-2b-v0.9.5.safetensors"
T5 = "t5xxl_fp16.safetensors"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models.ltxv import write_tiny_ltxv_store

    root = tmp_path_factory.mktemp("ltxv-models")
    write_tiny_ltxv_store(root, seed=0)
    return root


@pytest.fixture(scope="module")
def ctx(store: Path) -> NodeTestContext:
    return NodeTestContext(store)


@pytest.fixture(scope="module")
def loaded(ctx: NodeTestContext) -> tuple[Any, Any, Any]:
    from nodes.diffusion.ops import checkpoint_loader_simple

    return checkpoint_loader_simple(ctx, CKPT)


def _header(state: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    return {prefix + k: {"dtype": "BF16", "shape": list(v.shape)} for k, v in state.items()}


def _shipped(part: str) -> dict[str, Any]:
    import json

    from nodes.ltxv.loading import CONFIG_DIR

    raw = json.loads((CONFIG_DIR / part / "config.json").read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def _real_size_states() -> tuple[dict[str, Any], dict[str, Any]]:
    """The 2B transformer's and the 0.9.5 VAE's states at their real shapes, on the meta device."""
    from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel

    with torch.device("meta"):
        return (
            LTXVideoTransformer3DModel(**_shipped("transformer")).state_dict(),
            AutoencoderKLLTXVideo(**_shipped("vae")).state_dict(),
        )


def test_the_layout_matches_diffusers_own_converters_at_the_real_sizes() -> None:
    from diffusers.loaders.single_file_utils import (
        convert_ltx_transformer_checkpoint_to_diffusers,
        convert_ltx_vae_checkpoint_to_diffusers,
    )

    from nodes.ltxv.layout import (
        transformer_to_diffusers,
        transformer_to_original,
        vae_to_diffusers,
        vae_to_original,
    )

    transformer, vae = _real_size_states()
    original = transformer_to_original(transformer)
    assert "patchify_proj.weight" in original and "adaln_single.linear.weight" in original
    assert "transformer_blocks.27.attn1.q_norm.weight" in original
    theirs = convert_ltx_transformer_checkpoint_to_diffusers(
        {f"model.diffusion_model.{k}": v for k, v in original.items()}
    )
    assert set(theirs) == set(transformer_to_diffusers(original)) == set(transformer)
    vae_original = vae_to_original(vae, 4)
    # diffusers tells 0.9.5 from the width of the encoder's conv_out (2048): it must read the same keys.
    theirs = convert_ltx_vae_checkpoint_to_diffusers({f"vae.{k}": v for k, v in vae_original.items()})
    assert set(theirs) == set(vae_to_diffusers(vae_original, 4)) == set(vae)


def test_an_unknown_vae_key_is_refused_not_dropped() -> None:
    from nodes.ltxv.layout import vae_to_diffusers

    with pytest.raises(ValueError, match=r"not an LTX-Video 0\.9\.5 VAE: unknown keys"):
        vae_to_diffusers({"encoder.conv_in.conv.weight": 0, "quant_conv.weight": 0}, 4)


def test_the_shipped_configs_fit_the_real_checkpoint_s_shapes(tmp_path: Path) -> None:
    from nodes.ltxv.layout import transformer_to_original, vae_to_original
    from nodes.ltxv.loading import checkpoint_configs

    transformer, vae = _real_size_states()
    header = {
        **_header(transformer_to_original(transformer), "model.diffusion_model."),
        **_header(vae_to_original(vae, 4), "vae."),
    }
    got = checkpoint_configs(tmp_path / CKPT, header)  # no sidecar: the shipped configs
    assert (got[0]["num_layers"], got[1]["latent_channels"]) == (28, 128)


def test_the_checkpoint_is_detected_from_its_header(store: Path) -> None:
    from nodes.loaders.families import split_family
    from nodes.model_family import model_family, read_safetensors_header

    assert model_family(store / "checkpoints" / CKPT) == "ltxv"
    assert split_family(read_safetensors_header(store / "text_encoders" / T5)) == "t5xxl"


def test_a_checkpoint_that_fits_no_config_fails_before_building(store: Path, tmp_path: Path) -> None:
    from nodes.ltxv.loading import load_ltxv_checkpoint

    path = tmp_path / CKPT
    shutil.copy(store / "checkpoints" / CKPT, path)  # no sidecar: the tiny one fits no shipped model
    with pytest.raises(
        ValueError, match=r"not the LTX-Video model.*hidden: the file has 32, the config 2048"
    ):
        load_ltxv_checkpoint(path, "cpu")


def test_a_checkpoint_without_its_vae_says_so(store: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from nodes.ltxv.loading import load_ltxv_checkpoint

    path = tmp_path / "transformer_only.safetensors"
    state = load_file(store / "checkpoints" / CKPT)
    save_file({k: v for k, v in state.items() if not k.startswith("vae.")}, path)
    with pytest.raises(ValueError, match=r"an LTX-Video transformer but no VAE \(vae\.\*\)"):
        load_ltxv_checkpoint(path, "cpu")


def test_the_checkpoint_loads_to_the_networks_it_was_written_from(loaded: tuple[Any, Any, Any]) -> None:
    from diffusers import LTXVideoTransformer3DModel

    from nodes.ltxv.call import ltxv_call
    from tiny_models.ltxv import TRANSFORMER_CONFIG

    model, clip, vae = loaded
    assert (model.family, clip.kind, vae.downscale) == ("ltxv", "none", 32)
    assert model.model_sampling.flux_shift and model.model_sampling.shift == 2.37
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(20)
        reference = LTXVideoTransformer3DModel(**TRANSFORMER_CONFIG).eval()
    x, context, t = torch.randn(1, 128, 2, 2, 3), torch.randn(1, 5, 32), torch.tensor([500.0])
    got = ltxv_call(model, x, t, context, {"frame_rate": torch.tensor([24.0])})
    want = reference(
        hidden_states=x.permute(0, 2, 3, 4, 1).reshape(1, 12, 128),
        encoder_hidden_states=context,
        timestep=t,
        encoder_attention_mask=torch.ones(1, 5),
        num_frames=2,
        height=2,
        width=3,
        rope_interpolation_scale=(8 / 24.0, 32, 32),
        return_dict=False,
    )[0]
    torch.testing.assert_close(got, want.reshape(1, 2, 2, 3, 128).permute(0, 4, 1, 2, 3))
    # The file's latent statistics reach the VAE (the tiny ones are not 0 and 1).
    assert vae.vae.latents_std.min() > 1.0


def test_a_noise_mask_gives_each_token_its_own_timestep(loaded: tuple[Any, Any, Any]) -> None:
    from nodes.ltxv.call import ltxv_call, ltxv_kwargs

    model = loaded[0]
    x, context, t = torch.randn(1, 128, 2, 2, 3), torch.randn(1, 5, 32), torch.tensor([700.0])
    mask = torch.ones(1, 1, 2, 2, 3)
    mask[:, :, 0] = 0.0  # the first latent frame kept
    got = ltxv_call(model, x, t, context, ltxv_kwargs(model, {"denoise_mask": mask}, batch=1))
    per_token = torch.cat([torch.zeros(1, 6), torch.full((1, 6), 700.0)], dim=1)
    want = model.unet(
        hidden_states=x.permute(0, 2, 3, 4, 1).reshape(1, 12, 128),
        encoder_hidden_states=context,
        timestep=per_token,
        encoder_attention_mask=torch.ones(1, 5),
        num_frames=2,
        height=2,
        width=3,
        rope_interpolation_scale=(8 / 25.0, 32, 32),
        return_dict=False,
    )[0]
    torch.testing.assert_close(got, want.reshape(1, 2, 2, 3, 128).permute(0, 4, 1, 2, 3))
    plain = ltxv_call(model, x, t, context, {})
    assert not torch.allclose(got[:, :, 0], plain[:, :, 0])


def test_the_video_vae_encodes_8_frames_to_one_latent_frame_and_decodes_back(
    loaded: tuple[Any, Any, Any],
) -> None:
    _, _, vae = loaded
    frames = torch.rand(17, 64, 96, 3)
    latent = vae.encode_frames(frames, "cpu")
    assert latent.shape == (1, 128, 3, 2, 3)
    decoded = vae.decode_frames(latent, "cpu")
    assert decoded.shape == (17, 64, 96, 3) and 0.0 <= decoded.min() and decoded.max() <= 1.0


def test_clip_loader_type_ltxv_is_t5_padded_to_128_tokens(ctx: NodeTestContext) -> None:
    from nodes.diffusion.ops import clip_text_encode
    from nodes.loaders.ops import clip_loader

    (clip,) = clip_loader(ctx, T5, "ltxv")
    assert clip.kind == "ltxv"
    [[context, extras]] = clip_text_encode(ctx, "a cat", clip)[0]
    assert context.shape == (1, 128, 32) and extras == {}


def _by_hand(steps: int, mu: float, terminal: float | None) -> list[float]:
    """ComfyUI's documented LTXVScheduler: exp(mu) / (exp(mu) + 1/t - 1) on t = 1 .. 0, then stretched."""
    ts = [1 - i / steps for i in range(steps + 1)]
    sigmas = [math.exp(mu) / (math.exp(mu) + 1 / t - 1) if t else 0.0 for t in ts]
    if terminal is None:
        return sigmas
    scale = (1 - sigmas[-2]) / (1 - terminal)
    return [1 - (1 - s) / scale if s else 0.0 for s in sigmas]


def test_ltxv_scheduler_numbers(ctx: NodeTestContext) -> None:
    from nodes.ltxv.ops import ltxv_scheduler

    (sigmas,) = ltxv_scheduler(ctx, 4, 2.05, 0.95, True, 0.1)
    # No latent: 4096 tokens, so mu is max_shift; stretched, the last non-zero sigma is `terminal`.
    want = _by_hand(4, 2.05, 0.1)
    torch.testing.assert_close(sigmas, torch.tensor(want), atol=1e-6, rtol=0)
    assert float(sigmas[0]) == pytest.approx(1.0) and float(sigmas[-2]) == pytest.approx(0.1)
    assert float(sigmas[-1]) == 0.0 and sigmas.dtype == torch.float32
    # Unstretched, at the sigma 0.5 step: e^2.05 / (e^2.05 + 1) = 0.8860 (the shift's value at t = 0.5).
    (plain,) = ltxv_scheduler(ctx, 4, 2.05, 0.95, False, 0.1)
    assert float(plain[2]) == pytest.approx(0.88593, abs=1e-4)
    # A latent of 1024 tokens (2 x 16 x 32) shifts by base_shift.
    latent = {"samples": torch.zeros(1, 128, 2, 16, 32)}
    (small,) = ltxv_scheduler(ctx, 3, 2.05, 0.95, False, 0.1, latent)
    torch.testing.assert_close(small, torch.tensor(_by_hand(3, 0.95, None)), atol=1e-6, rtol=0)


def test_model_sampling_ltxv_shifts_by_the_latent_s_tokens(
    ctx: NodeTestContext, loaded: tuple[Any, Any, Any]
) -> None:
    from nodes.ltxv.ops import model_sampling_ltxv

    model = loaded[0]
    latent = {"samples": torch.zeros(1, 128, 4, 16, 32)}  # 2048 tokens: a third of the way up
    (shifted,) = model_sampling_ltxv(ctx, model, 2.05, 0.95, latent)
    ms = shifted.model_sampling
    assert ms.shift == pytest.approx(0.95 + (2048 - 1024) * (2.05 - 0.95) / 3072)
    assert ms.flux_shift and ms.multiplier == 1000.0 and model.model_sampling.shift == 2.37


def test_empty_latent_and_conditioning_nodes(ctx: NodeTestContext) -> None:
    from nodes.ltxv.ops import empty_ltxv_latent_video, ltxv_conditioning

    (latent,) = empty_ltxv_latent_video(ctx, 768, 512, 97, 2)
    assert latent["samples"].shape == (2, 128, 13, 16, 24) and not latent["samples"].any()
    positive, negative = ltxv_conditioning(ctx, [[torch.zeros(1, 2, 3), {"a": 1}]], [[torch.ones(1), {}]], 24)
    assert positive[0][1] == {"a": 1, "frame_rate": 24.0} and negative[0][1] == {"frame_rate": 24.0}


def test_img_to_video_puts_the_image_in_the_first_frame_and_the_sampler_keeps_it(
    ctx: NodeTestContext, loaded: tuple[Any, Any, Any]
) -> None:
    from nodes.diffusion.ops import ksampler
    from nodes.ltxv.ops import ltxv_img_to_video

    model, _, vae = loaded
    image = torch.rand(1, 80, 100, 3)
    cond = [[torch.randn(1, 6, 32), {}]]
    positive, negative, latent = ltxv_img_to_video(ctx, cond, cond, vae, image, 96, 64, 17, 1, 1.0)
    assert positive is cond and negative is cond
    samples, mask = latent["samples"], latent["noise_mask"]
    assert samples.shape == (1, 128, 3, 2, 3) and mask.shape == (1, 1, 3, 2, 3)
    assert not mask[:, :, 0].any() and (mask[:, :, 1:] == 1).all() and not samples[:, :, 1:].any()
    assert samples[:, :, 0].abs().sum() > 0
    (out,) = ksampler(ctx, model, 1, 2, 3.0, "euler", "simple", positive, negative, latent)
    torch.testing.assert_close(out["samples"][:, :, 0], samples[:, :, 0])
    assert (out["samples"][:, :, 1:] != 0).any()
    (_, _, weak) = ltxv_img_to_video(ctx, cond, cond, vae, image, 96, 64, 17, 1, 0.25)
    assert torch.allclose(weak["noise_mask"][:, :, 0], torch.tensor(0.75))


def test_text_to_video_samples_an_empty_latent_and_decodes_its_frames(
    ctx: NodeTestContext, loaded: tuple[Any, Any, Any]
) -> None:
    from nodes.diffusion.ops import clip_text_encode, ksampler
    from nodes.latent.ops import vae_decode
    from nodes.loaders.ops import clip_loader
    from nodes.ltxv.ops import empty_ltxv_latent_video, ltxv_conditioning

    model, _, vae = loaded
    (clip,) = clip_loader(ctx, T5, "ltxv")
    (positive,), (negative,) = clip_text_encode(ctx, "a cat", clip), clip_text_encode(ctx, "", clip)
    positive, negative = ltxv_conditioning(ctx, positive, negative, 24.0)
    (latent,) = empty_ltxv_latent_video(ctx, 64, 64, 9, 1)
    (out,) = ksampler(ctx, model, 3, 2, 3.0, "euler", "simple", positive, negative, latent)
    assert out["samples"].shape == (1, 128, 2, 2, 2) and torch.isfinite(out["samples"]).all()
    (frames,) = vae_decode(ctx, out, vae)
    assert frames.shape == (9, 64, 64, 3) and frames.std() > 0
