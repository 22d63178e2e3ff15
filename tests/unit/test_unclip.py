"""CLIP vision and unCLIP: every file layout loads the same tower, ComfyUI's preprocessing, the unCLIP
checkpoint's parts, the noise-augmented image embedding against diffusers' StableUnCLIPImg2ImgPipeline,
and sampling with unCLIPConditioning."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from nodes.clip_vision.encode import clip_vision_encode, clip_vision_loader, preprocess
from nodes.clip_vision.handles import CLIP_MEAN, CLIP_STD
from nodes.clip_vision.unclip import unclip_checkpoint_loader, unclip_conditioning
from nodes.diffusion import ops as diffusion
from nodes.diffusion.unet_inputs import unet_kwargs
from tests.support.node_context import NodeTestContext

pytestmark = pytest.mark.usefixtures("one_thread")
UNCLIP = "sd21-unclip-h.safetensors"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> NodeTestContext:
    from tiny_models.clip_vision import write_tiny_clip_vision, write_tiny_sd21_unclip
    from tiny_models.sd2 import write_tiny_sd2_single_file

    root = tmp_path_factory.mktemp("unclip-models")
    write_tiny_sd21_unclip(root / "checkpoints" / UNCLIP, seed=0)
    write_tiny_sd2_single_file(root / "checkpoints" / "v2-1_768-ema-pruned.safetensors", prediction="v")
    for name, layout in (
        ("CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors", "transformers"),
        ("open_clip_pytorch_model.safetensors", "open_clip"),
    ):
        write_tiny_clip_vision(root / "clip_vision" / name, seed=4, layout=layout)
    return NodeTestContext(root)


def image(height: int = 40, width: int = 64) -> torch.Tensor:
    return torch.rand((1, height, width, 3), generator=torch.Generator().manual_seed(1))


def test_every_layout_loads_the_same_tower_as_the_unclip_checkpoint(ctx: NodeTestContext) -> None:
    from tiny_models.clip_vision import tiny_vision_model

    reference = tiny_vision_model(4).state_dict()
    (_, _, _, inside) = unclip_checkpoint_loader(ctx, UNCLIP)
    for vision in (
        clip_vision_loader(ctx, "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")[0],
        clip_vision_loader(ctx, "open_clip_pytorch_model.safetensors")[0],
        inside,  # written from the same seed under embedder.model.visual.
    ):
        assert vision.image_size == 32
        ours = vision.model.state_dict()
        for key, value in reference.items():
            assert torch.equal(ours[key], value), key


def test_preprocessing_is_comfyuis(ctx: NodeTestContext) -> None:
    picture = image()
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    chw = picture.movedim(-1, 1)
    # center: the shorter side to 32 (40 x 64 -> 32 x 51), then the middle 32 columns.
    resized = F.interpolate(chw, size=(32, 51), mode="bicubic", antialias=True)[:, :, :, 9:41]
    expected = ((resized * 255).clamp(0, 255).round() / 255 - mean) / std
    torch.testing.assert_close(preprocess(picture, 32, "center"), expected)
    # none: straight to a square; an image already at size is only rounded and normalised.
    squashed = F.interpolate(chw, size=(32, 32), mode="bicubic", antialias=True)
    torch.testing.assert_close(
        preprocess(picture, 32, "none"), ((squashed * 255).round().clamp(0, 255) / 255 - mean) / std
    )
    exact = image(32, 32)
    torch.testing.assert_close(
        preprocess(exact, 32, "center"), ((exact.movedim(-1, 1) * 255).round() / 255 - mean) / std
    )
    with pytest.raises(ValueError, match="crop must be one of center, none"):
        preprocess(picture, 32, "top")


def test_clip_vision_encode_is_the_towers_output(ctx: NodeTestContext) -> None:
    (vision,) = clip_vision_loader(ctx, "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")
    (out,) = clip_vision_encode(ctx, vision, image(), "center")
    with torch.inference_mode():
        direct = vision.model(pixel_values=preprocess(image(), 32, "center"), output_hidden_states=True)
    torch.testing.assert_close(out.image_embeds, direct.image_embeds)
    torch.testing.assert_close(out.penultimate_hidden_states, direct.hidden_states[-2])
    assert out.image_embeds.shape == (1, 24)
    (uncropped,) = clip_vision_encode(ctx, vision, image(), "none")
    assert not torch.allclose(uncropped.image_embeds, out.image_embeds)


def test_the_image_embedding_is_diffusers_stable_unclip_conditioning(ctx: NodeTestContext) -> None:
    """Normalise, noise to the level, un-normalise, join the level's embedding: diffusers'
    StableUnCLIPImg2ImgPipeline.noise_image_embeddings with the checkpoint's statistics and schedule."""
    from diffusers import DDPMScheduler, StableUnCLIPImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )

    model, clip, _, vision = unclip_checkpoint_loader(ctx, UNCLIP)
    assert model.unet.config.class_embed_type == "projection" and model.image_conditioner is not None
    augmentor = model.image_conditioner
    (out,) = clip_vision_encode(ctx, vision, image(), "center")
    normalizer = StableUnCLIPImageNormalizer(embedding_dim=augmentor.width)
    normalizer.mean.data, normalizer.std.data = augmentor.mean.clone(), augmentor.std.clone()
    owner = SimpleNamespace(
        image_normalizer=normalizer,
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
    )
    ((embeddings, _),) = diffusion.clip_text_encode(ctx, "a cat", clip)[0]
    for augmentation in (0.0, 0.25):
        (cond,) = unclip_conditioning(ctx, [[embeddings, {}]], out, 1.5, augmentation)
        labels = augmentor.class_labels(cond[0][1], batch=2, dtype=torch.float32)
        level = round(999 * augmentation)
        expected = StableUnCLIPImg2ImgPipeline.noise_image_embeddings(
            owner, out.image_embeds, noise_level=level, generator=torch.Generator().manual_seed(0)
        )
        torch.testing.assert_close(labels, (expected * 1.5).expand(2, -1))
    # An entry without images (the negative prompt) gets zeros; strength 0 adds nothing.
    assert torch.equal(augmentor.class_labels({}, batch=1, dtype=torch.float32), torch.zeros(1, 48))
    assert unclip_conditioning(ctx, [[embeddings, {}]], out, 0.0, 0.5)[0] == [[embeddings, {}]]


def test_sampling_follows_the_image_and_bad_inputs_fail_clearly(ctx: NodeTestContext) -> None:
    model, clip, _, vision = unclip_checkpoint_loader(ctx, UNCLIP)
    (positive,) = diffusion.clip_text_encode(ctx, "a cat", clip)
    (negative,) = diffusion.clip_text_encode(ctx, "", clip)

    def sample(conditioning: Any) -> torch.Tensor:
        (out,) = diffusion.ksampler(
            ctx,
            model,
            seed=3,
            steps=3,
            cfg=5.0,
            sampler_name="euler",
            scheduler="normal",
            positive=conditioning,
            negative=negative,
            latent_image={"samples": torch.zeros(1, 4, 8, 8)},
        )
        return out["samples"]

    first = clip_vision_encode(ctx, vision, image(), "center")[0]
    second = clip_vision_encode(ctx, vision, image(48, 48) * 0.2, "center")[0]
    runs = [sample(unclip_conditioning(ctx, positive, o, 1.0, 0.1)[0]) for o in (first, first, second)]
    assert torch.equal(runs[0], runs[1]) and not torch.allclose(runs[0], runs[2])
    assert not torch.allclose(sample(positive), runs[0])
    # Two images stack: their sum is noised once more at level 0 (ComfyUI's merge).
    both = unclip_conditioning(ctx, unclip_conditioning(ctx, positive, first, 1.0, 0.0)[0], second, 1.0, 0.0)[
        0
    ]
    assert len(both[0][1]["unclip_conditioning"]) == 2 and torch.isfinite(sample(both)).all()

    wide = dataclasses.replace(first, image_embeds=torch.zeros(1, 7))
    bad = unclip_conditioning(ctx, positive, wide, 1.0, 0.0)[0]
    with pytest.raises(ValueError, match="takes image embeddings of width 24, the CLIP vision output has 7"):
        unet_kwargs(model, bad[0][1], batch=1, latent_hw=(8, 8))
    with pytest.raises(ValueError, match="is not an unCLIP checkpoint"):
        unclip_checkpoint_loader(ctx, "v2-1_768-ema-pruned.safetensors")


def test_sdxl_takes_the_image_in_place_of_the_pooled_text(tmp_path: Path) -> None:
    """ComfyUI's SDXL "revision": unCLIPConditioning on an SDXL model replaces bigG's pooled output."""
    from nodes.diffusion.loading import load_checkpoint
    from tiny_models.clip_vision import write_tiny_clip_vision
    from tiny_models.sdxl import write_tiny_sdxl_single_file

    sdxl = load_checkpoint(write_tiny_sdxl_single_file(tmp_path / "sd_xl_base_1.0.safetensors"), "cpu")
    vision_ctx = NodeTestContext(tmp_path)
    write_tiny_clip_vision(tmp_path / "clip_vision" / "clip_vision_g.safetensors", seed=2)
    (vision,) = clip_vision_loader(vision_ctx, "clip_vision_g.safetensors")
    (out,) = clip_vision_encode(vision_ctx, vision, image(), "center")
    (positive,) = diffusion.clip_text_encode(vision_ctx, "a cat", sdxl.clip)
    (cond,) = unclip_conditioning(vision_ctx, positive, out, 1.0, 0.0)
    pooled = unet_kwargs(sdxl.model, cond[0][1], batch=1, latent_hw=(8, 8))["added_cond_kwargs"][
        "text_embeds"
    ]
    text = unet_kwargs(sdxl.model, positive[0][1], batch=1, latent_hw=(8, 8))["added_cond_kwargs"][
        "text_embeds"
    ]
    assert pooled.shape == text.shape == (1, 24) and not torch.allclose(pooled, text)
    # At level 0 the embedding is only slightly noised (no data statistics on SDXL).
    assert torch.allclose(pooled, out.image_embeds, atol=0.05)
