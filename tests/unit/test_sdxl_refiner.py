"""The SDXL refiner: its single file loads to the writer's weights, bigG-only text encoding, the five
size/score time ids as diffusers' refiner pipeline builds them, and ComfyUI's base + refiner handoff."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from nodes.diffusion import guidance, sdxl_text
from nodes.diffusion import ops as diffusion
from nodes.diffusion.unet_inputs import unet_kwargs
from tests.unit.test_latent_ops import CTX

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from nodes.diffusion.loading import load_checkpoint
    from tiny_models.sdxl import write_tiny_sdxl_single_file
    from tiny_models.sdxl_refiner import (
        write_tiny_sdxl_refiner_diffusers,
        write_tiny_sdxl_refiner_single_file,
    )

    root = tmp_path_factory.mktemp("refiner")
    refiner = write_tiny_sdxl_refiner_single_file(root / "sd_xl_refiner_1.0.safetensors", seed=0)
    base = write_tiny_sdxl_single_file(root / "sd_xl_base_1.0.safetensors", seed=0)
    folder = write_tiny_sdxl_refiner_diffusers(root / "stable-diffusion-xl-refiner-1.0", seed=0)
    return {
        "refiner": load_checkpoint(refiner, "cpu"),
        "base": load_checkpoint(base, "cpu"),
        "file": refiner,
        "folder": load_checkpoint(folder, "cpu"),
        "folder_path": folder,
    }


def test_the_refiner_file_loads_to_the_writers_weights(models: dict[str, Any]) -> None:
    from nodes.model_family import model_family
    from tiny_models.sdxl_refiner import tiny_refiner_modules

    refiner = models["refiner"]
    assert model_family(models["file"]) == "sdxl_refiner"
    assert (refiner.model.family, refiner.clip.text_encoder, refiner.clip.tokenizer) == (
        "sdxl_refiner",
        None,
        None,
    )
    written = tiny_refiner_modules(0)
    loaded = {
        "unet": refiner.model.unet,
        "vae": refiner.vae.vae,
        "text_encoder_2": refiner.clip.text_encoder_2,
    }
    for name, module in written.items():
        ours = loaded[name].state_dict()
        for key, value in module.state_dict().items():
            if not key.endswith("position_ids"):
                assert torch.equal(ours[key], value), (name, key)


def test_clip_text_encode_on_the_refiner_is_bigg_alone(models: dict[str, Any]) -> None:
    clip = models["refiner"].clip
    ((embeddings, extras),) = diffusion.clip_text_encode(CTX, "a photo of a cat", clip)[0]
    tokens = clip.tokenizer_2("a photo of a cat", padding="max_length", max_length=77).input_ids
    with torch.inference_mode():
        out = clip.text_encoder_2(torch.tensor([tokens]), output_hidden_states=True)
    # The penultimate layer without the final norm, as diffusers' refiner pipeline reads it.
    torch.testing.assert_close(embeddings, out.hidden_states[-2])
    torch.testing.assert_close(extras["pooled_output"], out.text_embeds)
    # CLIPTextEncodeSDXL on a refiner CLIP encodes text_g with bigG.
    ((sdxl_embeddings, _),) = sdxl_text.clip_text_encode_sdxl(
        CTX, clip, 1024, 1024, 0, 0, 1024, 1024, text_g="a photo of a cat", text_l="ignored"
    )[0]
    torch.testing.assert_close(sdxl_embeddings, embeddings)


def test_time_ids_are_diffusers_refiner_time_ids(models: dict[str, Any]) -> None:
    from diffusers import StableDiffusionXLImg2ImgPipeline

    model, clip = models["refiner"].model, models["refiner"].clip
    ((_, extras),) = sdxl_text.clip_text_encode_sdxl_refiner(CTX, 3.5, 640, 896, "a cat", clip)[0]
    assert (extras["aesthetic_score"], extras["width"], extras["height"]) == (3.5, 640, 896)
    kwargs = unet_kwargs(model, extras, batch=2, latent_hw=(8, 8))["added_cond_kwargs"]
    owner = SimpleNamespace(config=SimpleNamespace(requires_aesthetics_score=True), unet=model.unet)
    positive, negative = StableDiffusionXLImg2ImgPipeline._get_add_time_ids(
        owner,
        (896, 640),
        (0, 0),
        (896, 640),
        3.5,
        2.5,
        (768, 768),
        (0, 0),
        (768, 768),
        dtype=torch.float32,
        text_encoder_projection_dim=int(extras["pooled_output"].shape[-1]),
    )
    assert torch.equal(kwargs["time_ids"], positive.expand(2, -1))
    assert torch.equal(kwargs["text_embeds"], extras["pooled_output"].expand(2, -1))
    # Plain CLIPTextEncode: ComfyUI's defaults, 768 x 768 and score 6 (positive) or 2.5 (negative).
    ((embeddings, plain),) = diffusion.clip_text_encode(CTX, "a cat", clip)[0]
    for side, expected in (("positive", 6.0), ("negative", negative[0, -1].item())):
        (entry,) = guidance.prepare([[embeddings, plain]], torch.Size((1, 4, 8, 8)), "cpu", side)
        ids = unet_kwargs(model, entry.extras, batch=1, latent_hw=(8, 8))["added_cond_kwargs"]["time_ids"]
        assert ids.tolist() == [[768.0, 768.0, 0.0, 0.0, expected]]
    assert torch.equal(
        unet_kwargs(model, {**plain, "prompt_type": "negative"}, batch=1, latent_hw=(8, 8))[
            "added_cond_kwargs"
        ]["time_ids"],
        negative,
    )


def test_base_then_refiner_as_comfyuis_example_hands_over(models: dict[str, Any]) -> None:
    """Base steps 0-4 of 5 with leftover noise, refiner 4-5 without new noise (KSamplerAdvanced twice)."""
    base, refiner = models["base"], models["refiner"]
    encode = diffusion.clip_text_encode
    base_prompts = (encode(CTX, "a photo of a cat", base.clip)[0], encode(CTX, "text", base.clip)[0])
    refiner_prompts = (encode(CTX, "a photo of a cat", refiner.clip)[0], encode(CTX, "text", refiner.clip)[0])
    common: dict[str, Any] = {
        "noise_seed": 7,
        "steps": 5,
        "cfg": 7.0,
        "sampler_name": "euler",
        "scheduler": "normal",
    }
    latent = {"samples": torch.zeros(1, 4, 8, 8)}

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        (stage1,) = diffusion.ksampler_advanced(
            CTX,
            base.model,
            add_noise="enable",
            positive=base_prompts[0],
            negative=base_prompts[1],
            latent_image=latent,
            start_at_step=0,
            end_at_step=4,
            return_with_leftover_noise="enable",
            **common,
        )
        (stage2,) = diffusion.ksampler_advanced(
            CTX,
            refiner.model,
            add_noise="disable",
            positive=refiner_prompts[0],
            negative=refiner_prompts[1],
            latent_image=stage1,
            start_at_step=4,
            end_at_step=10000,
            return_with_leftover_noise="disable",
            **common,
        )
        return stage1["samples"], stage2["samples"]

    (noisy, refined), (_, again) = run(), run()
    assert torch.equal(refined, again) and torch.isfinite(refined).all()
    assert not torch.allclose(noisy, refined)  # the refiner took the last step


def test_wrong_clips_fail_clearly(models: dict[str, Any], checkpoint: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CLIPTextEncodeSDXLRefiner needs an SDXL refiner's CLIP"):
        sdxl_text.clip_text_encode_sdxl_refiner(CTX, 6.0, 1024, 1024, "a cat", checkpoint.clip)
    ((_, extras),) = diffusion.clip_text_encode(CTX, "a cat", checkpoint.clip)[0]
    with pytest.raises(ValueError, match="encode prompts with the refiner checkpoint's CLIP"):
        unet_kwargs(models["refiner"].model, extras, batch=1, latent_hw=(8, 8))
    # CLIPSetLastLayer works on the refiner's single encoder.
    (deeper,) = diffusion.clip_set_last_layer(CTX, models["refiner"].clip, -1)
    assert deeper.last_layer == -1
