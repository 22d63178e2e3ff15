"""Stable Video Diffusion: the SGM key names, detection of a file before anything is built, the
conditioning's shapes, the per-frame guidance ramps, EDM model sampling, and the frame-chunked decode
with progress and cancel (tiny SVD checkpoints in the real single-file layout, tiny_models/svd.py)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.model_family import model_family
from nodes.sampling.guiders import Guider
from nodes.sampling.model_sampling import ModelSampling
from nodes.sampling.schedules import schedule_sigmas
from nodes.svd import guidance, keys, loading
from nodes.svd.handles import SIGMA_MAX, SIGMA_MIN
from tests.support.node_context import NodeTestContext

pytestmark = pytest.mark.usefixtures("one_thread")
CONFIGS = Path(loading.__file__).resolve().parent / "configs"


def _config(variant: str, name: str) -> dict[str, Any]:
    data = json.loads((CONFIGS / variant / name).read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models.sd15 import write_tiny_sd15_single_file
    from tiny_models.svd import write_tiny_svd_store

    root = tmp_path_factory.mktemp("svd-models")
    write_tiny_svd_store(root, seed=0)
    write_tiny_sd15_single_file(root / "checkpoints" / "sd15.safetensors", seed=0)
    return root


@pytest.fixture(scope="module")
def loaded(store: Path) -> tuple[Any, Any, Any]:
    from nodes.svd.ops import image_only_checkpoint_loader

    return image_only_checkpoint_loader(NodeTestContext(store), "svd.safetensors")


def test_full_size_unet_keys_land_on_the_names_real_svd_files_use() -> None:
    from diffusers import UNetSpatioTemporalConditionModel

    config = _config("svd", "unet.json")
    with torch.device("meta"):
        unet = UNetSpatioTemporalConditionModel.from_config(config)
    names = {keys.unet_sgm_name(key, config) for key in unet.state_dict()}
    assert len(names) == len(unet.state_dict())  # one file key per module key
    # Names from Stability's svd.safetensors (sgm VideoUNet): temporal twins, blend factors, samplers.
    for real in (
        "time_embed.0.weight",
        "label_emb.0.2.weight",
        "input_blocks.1.0.time_stack.emb_layers.1.weight",
        "input_blocks.1.0.time_mixer.mix_factor",
        "input_blocks.1.1.time_stack.0.ff_in.net.0.proj.weight",
        "input_blocks.1.1.time_stack.0.attn2.to_k.weight",
        "input_blocks.1.1.time_pos_embed.2.bias",
        "input_blocks.3.0.op.weight",
        "input_blocks.4.0.skip_connection.weight",
        "input_blocks.11.0.out_layers.3.weight",
        "middle_block.1.time_mixer.mix_factor",
        "middle_block.2.time_stack.in_layers.2.weight",
        "output_blocks.2.1.conv.weight",  # the first up level has no attention: its upsampler is .1
        "output_blocks.5.2.conv.weight",
        "output_blocks.8.2.conv.weight",
        "output_blocks.11.1.proj_out.weight",
        "out.2.weight",
    ):
        assert real in names, real


def test_full_size_vae_keys_land_on_the_names_real_svd_files_use() -> None:
    from diffusers import AutoencoderKLTemporalDecoder

    config = _config("svd_xt", "vae.json")
    with torch.device("meta"):
        vae = AutoencoderKLTemporalDecoder.from_config(config)
    names = {keys.vae_sgm_name(key, config) for key in vae.state_dict()}
    assert len(names) == len(vae.state_dict())
    for real in (
        "encoder.down.1.block.0.nin_shortcut.weight",
        "encoder.down.2.downsample.conv.weight",
        "encoder.mid.attn_1.proj_out.weight",
        "encoder.norm_out.bias",
        "decoder.mid.block_2.mix_factor",
        "decoder.mid.block_1.time_stack.out_layers.3.weight",
        "decoder.up.0.block.0.nin_shortcut.weight",  # the top level (128 wide) after a 256 wide one
        "decoder.up.3.upsample.conv.weight",
        "decoder.up.3.block.2.time_stack.in_layers.2.bias",
        "decoder.conv_out.time_mix_conv.weight",
        "quant_conv.weight",
    ):
        assert real in names, real


def test_the_file_is_told_apart_before_anything_is_built(store: Path, tmp_path: Path) -> None:
    svd = store / "checkpoints" / "svd.safetensors"
    assert model_family(svd) == "svd"
    assert loading.variant_for(store / "checkpoints" / "svd_xt.safetensors") == "svd_xt"
    with pytest.raises(ValueError, match="not a Stable Video Diffusion checkpoint"):
        loading.check_file(store / "checkpoints" / "sd15.safetensors")
    # Without its sidecar the tiny file meets the shipped svd config, which it does not fit.
    bare = tmp_path / "svd.safetensors"
    shutil.copy(svd, bare)
    with pytest.raises(ValueError, match=r"fits no shipped config \(svd\): UNet width: the file has 32"):
        loading.check_file(bare)
    from nodes.diffusion.loading import load_checkpoint

    with pytest.raises(ValueError, match="ImageOnlyCheckpointLoader"):
        load_checkpoint(svd, "cpu")


def test_loader_builds_the_video_unet_the_temporal_vae_and_the_image_tower(loaded: tuple[Any, ...]) -> None:
    model, clip_vision, vae = loaded
    assert type(model.unet).__name__ == "UNetSpatioTemporalConditionModel"
    assert type(vae.vae).__name__ == "AutoencoderKLTemporalDecoder" and vae.temporal
    assert clip_vision.model.config.projection_dim == model.unet.config.cross_attention_dim
    # sgm's VAE has no quant_conv: diffusers' is the identity.
    weight = vae.vae.quant_conv.weight[:, :, 0, 0]
    assert torch.equal(weight, torch.eye(weight.shape[0]))
    ms = model.model_sampling
    assert (ms.sigma_min, ms.sigma_max) == pytest.approx((SIGMA_MIN, SIGMA_MAX))


def test_conditioning_shapes(loaded: tuple[Any, ...]) -> None:
    from nodes.svd.ops import svd_img2vid_conditioning

    _, clip_vision, vae = loaded
    image = torch.rand(1, 50, 90, 3)
    ctx = NodeTestContext()
    positive, negative, latent = svd_img2vid_conditioning(
        ctx, clip_vision, image, vae, 128, 64, 5, 40, 8, 0.0
    )
    (context, extras), (zero_context, zero_extras) = positive[0], negative[0]
    assert context.shape == (1, 1, clip_vision.model.config.projection_dim) and context.abs().sum() > 0
    assert extras["concat_latent_image"].shape == (1, 4, 8, 16)
    assert (extras["fps"], extras["motion_bucket_id"], extras["augmentation_level"]) == (8, 40, 0.0)
    assert torch.count_nonzero(zero_context) == 0
    assert torch.count_nonzero(zero_extras["concat_latent_image"]) == 0 and zero_extras["fps"] == 8
    assert latent["samples"].shape == (5, 4, 8, 16) and torch.count_nonzero(latent["samples"]) == 0
    noised = svd_img2vid_conditioning(ctx, clip_vision, image, vae, 128, 64, 5, 40, 8, 0.5)[0][0][1]
    assert not torch.allclose(noised["concat_latent_image"], extras["concat_latent_image"])
    from nodes.svd.call import svd_kwargs

    model = loaded[0]
    inputs = svd_kwargs(model, extras, batch=5, latent_hw=(8, 16))
    assert inputs["image_latents"].shape == (5, 4, 8, 16)
    assert inputs["added_time_ids"].tolist() == [[7.0, 40.0, 0.0]] * 5  # fps - 1, as SVD was trained


def test_cfg_ramps_per_frame() -> None:
    linear = guidance.frame_scales("linear", 1.0, 2.5, 4)
    assert linear.tolist() == pytest.approx([1.0, 1.5, 2.0, 2.5])
    triangle = guidance.frame_scales("triangle", 1.0, 3.0, 5)
    assert triangle.tolist() == pytest.approx([1.0, 2.0, 3.0, 2.0, 1.0])
    cond, uncond = torch.ones(4, 4, 2, 2), torch.zeros(4, 4, 2, 2)
    guided = guidance.FrameCFG("linear", 1.0)(cond=cond * 2, uncond=uncond, cfg=2.5)
    assert guided[:, 0, 0, 0].tolist() == pytest.approx([2.0, 3.0, 4.0, 5.0])


def test_the_patched_model_guides_each_frame_and_keeps_both_sides_at_cfg_1(loaded: tuple[Any, ...]) -> None:
    model = loaded[0]
    (patched,) = guidance.video_linear_cfg_guidance(NodeTestContext(), model, 0.0)
    assert model.cfg_function is None  # the cached handle stays as it was
    conds: dict[str, Any] = {"positive": [], "negative": []}
    assert Guider(model, conds, "cfg", cfg=1.0).needed() == ("positive",)
    assert Guider(patched, conds, "cfg", cfg=1.0).needed() == ("negative", "positive")
    x0 = {"positive": torch.ones(3, 4, 1, 1), "negative": torch.zeros(3, 4, 1, 1)}
    guided, _ = Guider(patched, conds, "cfg", cfg=2.0).combine(x0)
    assert guided[:, 0, 0, 0].tolist() == pytest.approx([0.0, 1.0, 2.0])  # min_cfg 0 up to cfg 2


def test_edm_model_sampling() -> None:
    ms = ModelSampling.edm(sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX)
    sigma = torch.tensor([0.5, 80.0])
    assert ms.timestep(sigma).tolist() == pytest.approx([0.25 * math.log(0.5), 0.25 * math.log(80.0)])
    assert ms.sigma(ms.timestep(sigma)).tolist() == pytest.approx(sigma.tolist(), rel=1e-5)
    assert ms.percent_to_sigma(0.5) == pytest.approx(math.sqrt(SIGMA_MIN * SIGMA_MAX))
    karras = schedule_sigmas(ms, "karras", 20)
    assert (float(karras[0]), float(karras[-2]), float(karras[-1])) == pytest.approx((700.0, 0.002, 0.0))
    x, out, s = torch.ones(1, 4, 1, 1), torch.full((1, 4, 1, 1), 0.5), torch.tensor(2.0)
    # v-prediction with sigma_data 1: x / (s^2 + 1) - v * s / sqrt(s^2 + 1); input x / sqrt(s^2 + 1).
    assert float(ms.denoised(s, out, x)[0, 0]) == pytest.approx(1 / 5 - 0.5 * 2 / math.sqrt(5))
    assert float(ms.model_input(s, x)[0, 0]) == pytest.approx(1 / math.sqrt(5))


class _CancelAfter(NodeTestContext):
    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def check_cancelled(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("cancelled")


def test_frames_decode_in_chunks_with_progress_and_cancel(loaded: tuple[Any, ...]) -> None:
    from nodes.svd.vae import decode_frames

    vae = loaded[2]
    samples = torch.randn(5, 4, 4, 6)
    ctx = NodeTestContext()
    frames = decode_frames(ctx, samples, vae, chunk=2)
    assert frames.shape == (5, 32, 48, 3) and 0.0 <= float(frames.min()) <= float(frames.max()) <= 1.0
    assert ctx.steps == [(2, 5), (4, 5), (5, 5)]
    stopping = _CancelAfter(2)  # the check before the first chunk and after it pass, the next stops it
    with pytest.raises(RuntimeError, match="cancelled"):
        decode_frames(stopping, samples, vae, chunk=2)
    assert stopping.steps == [(2, 5), (4, 5)]


def test_ksampler_runs_the_frames_as_one_video(loaded: tuple[Any, ...]) -> None:
    from nodes.diffusion.ops import ksampler
    from nodes.svd.ops import svd_img2vid_conditioning

    model, clip_vision, vae = loaded
    ctx = NodeTestContext()
    image = torch.rand(1, 32, 64, 3)
    positive, negative, latent = svd_img2vid_conditioning(
        ctx, clip_vision, image, vae, 64, 32, 3, 127, 6, 0.0
    )
    (patched,) = guidance.video_linear_cfg_guidance(ctx, model, 1.0)
    (out,) = ksampler(ctx, patched, 0, 2, 2.5, "euler", "karras", positive, negative, latent)
    assert out["samples"].shape == (3, 4, 4, 8) and torch.isfinite(out["samples"]).all()
    assert ctx.steps == [(1, 2), (2, 2)]
    # Another init image, another video from the same noise: the concat latent and context reach the UNet.
    other = svd_img2vid_conditioning(ctx, clip_vision, 1.0 - image, vae, 64, 32, 3, 127, 6, 0.0)
    (moved,) = ksampler(ctx, patched, 0, 2, 2.5, "euler", "karras", other[0], other[1], latent)
    assert not torch.allclose(moved["samples"], out["samples"])
