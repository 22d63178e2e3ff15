"""SD 2.x: single files and diffusers folders load to the weights diffusers itself loads, the penultimate
text layer, the v-prediction rule, and v-prediction sampling against diffusers' StableDiffusionPipeline."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.diffusion import ops as diffusion
from nodes.diffusion.sd2_loading import sd2_prediction
from nodes.sampling.model_sampling import ModelSampling
from tests.unit.test_latent_ops import CTX

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sd2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from nodes.diffusion.loading import load_checkpoint
    from tiny_models.sd2 import write_tiny_sd2_diffusers, write_tiny_sd2_single_file

    root = tmp_path_factory.mktemp("sd2")
    out: dict[str, Any] = {"root": root}
    for prediction, name in (("eps", "v2-1_512-ema-pruned"), ("v", "v2-1_768-ema-pruned")):
        single = write_tiny_sd2_single_file(root / f"{name}.safetensors", seed=0, prediction=prediction)
        folder = write_tiny_sd2_diffusers(root / name, seed=0, prediction=prediction)
        out[prediction] = {
            "file": single,
            "folder": folder,
            "single": load_checkpoint(single, "cpu"),
            "diffusers": load_checkpoint(folder, "cpu"),
        }
    return out


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_single_file_and_folder_load_the_weights_diffusers_loads(
    sd2: dict[str, Any], prediction: str
) -> None:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    case = sd2[prediction]
    folder = case["folder"]
    reference = {
        "unet": UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True),
        "vae": AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True),
    }
    text = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", local_files_only=True)
    for checkpoint in (case["single"], case["diffusers"]):
        assert (checkpoint.model.family, checkpoint.model.model_sampling.prediction) == ("sd2", prediction)
        expected = "v_prediction" if prediction == "v" else "epsilon"
        assert checkpoint.model.scheduler_config["prediction_type"] == expected
        for name, module in (("unet", checkpoint.model.unet), ("vae", checkpoint.vae.vae)):
            ours = module.state_dict()
            for key, value in reference[name].state_dict().items():
                assert torch.equal(ours[key], value), (name, key)
        # The folder's text encoder stops one layer short; the single file keeps all of OpenCLIP's.
        ours = checkpoint.clip.text_encoder.state_dict()
        for key, value in text.state_dict().items():
            assert torch.equal(ours[key], value), key
    layers = [c.clip.text_encoder.config.num_hidden_layers for c in (case["single"], case["diffusers"])]
    assert layers == [3, 2]


def test_both_layouts_read_the_penultimate_layer_through_the_final_norm(sd2: dict[str, Any]) -> None:
    single, folder = sd2["v"]["single"], sd2["v"]["diffusers"]
    (from_file,) = diffusion.clip_text_encode(CTX, "a photo of a cat", single.clip)
    (from_folder,) = diffusion.clip_text_encode(CTX, "a photo of a cat", folder.clip)
    torch.testing.assert_close(from_file[0][0], from_folder[0][0])
    encoder = single.clip.text_encoder
    tokens = single.clip.tokenizer("a photo of a cat", padding="max_length", max_length=77).input_ids
    assert tokens[-1] == 0  # SD 2.x pads with "!" (id 0), not the end token
    with torch.inference_mode():
        hidden = encoder(torch.tensor([tokens]), output_hidden_states=True).hidden_states[-2]
        expected = getattr(encoder, "text_model", encoder).final_layer_norm(hidden)
    torch.testing.assert_close(from_file[0][0], expected)
    # CLIPSetLastLayer counts from the last of OpenCLIP's layers, as in ComfyUI.
    (last,) = diffusion.clip_set_last_layer(CTX, single.clip, -1)
    (other,) = diffusion.clip_text_encode(CTX, "a photo of a cat", last)
    assert not torch.allclose(other[0][0], from_file[0][0])


def test_the_prediction_rule(sd2: dict[str, Any], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    eps_file, v_file = sd2["eps"]["file"], sd2["v"]["file"]
    eps_state, v_state = load_file(str(eps_file)), load_file(str(v_file))
    # 2: the sidecar's scheduler config.
    assert (sd2_prediction(eps_file, eps_state), sd2_prediction(v_file, v_state)) == ("eps", "v")
    # 3: without a sidecar, ComfyUI's weight statistic (the v file's norm bias spreads, eps's is zero).
    bare = tmp_path / "v2-1_768-ema-pruned.safetensors"
    shutil.copy(v_file, bare)
    assert sd2_prediction(bare, v_state) == "v"
    assert sd2_prediction(bare, eps_state) == "eps"
    # 1: a sidecar LDM yaml decides first, as ComfyUI's config input does.
    bare.with_suffix(".yaml").write_text('model:\n  params:\n    parameterization: "v"\n', encoding="utf-8")
    assert sd2_prediction(bare, eps_state) == "v"
    bare.with_suffix(".yaml").write_text("model:\n  params:\n    linear_start: 0.00085\n", encoding="utf-8")
    assert sd2_prediction(bare, v_state) == "eps"


def test_a_bare_file_gets_the_shipped_configs_and_fails_clearly_when_they_do_not_fit(
    sd2: dict[str, Any], tmp_path: Path
) -> None:
    from nodes.diffusion.loading import load_checkpoint

    bare = tmp_path / "v2-1_768-ema-pruned.safetensors"
    shutil.copy(sd2["v"]["file"], bare)
    with pytest.raises(
        ValueError, match=r"configs in sd2_768/: its UNet starts with 32 channels, the configs with 320"
    ):
        load_checkpoint(bare, "cpu")
    shutil.copy(sd2["eps"]["file"], bare.with_name("v2-1_512-ema-pruned.safetensors"))
    with pytest.raises(ValueError, match=r"configs in sd2_512/"):
        load_checkpoint(bare.with_name("v2-1_512-ema-pruned.safetensors"), "cpu")


def test_the_shipped_configs_build_sd2s_published_sizes() -> None:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from nodes.diffusion.sd2_loading import SD2_512_DIR, SD2_768_DIR

    for folder in (SD2_512_DIR, SD2_768_DIR):
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
            text = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
        assert sum(p.numel() for p in unet.parameters()) == 865_910_724  # stabilityai/stable-diffusion-2-1
        # OpenCLIP ViT-H's 24 text layers (diffusers' folder keeps 23: 340,387,840 parameters).
        per_layer = sum(p.numel() for p in text.encoder.layers[0].parameters())
        assert sum(p.numel() for p in text.parameters()) == 340_387_840 + per_layer
    schedules = [
        json.loads((f / "scheduler" / "scheduler_config.json").read_text())
        for f in (SD2_512_DIR, SD2_768_DIR)
    ]
    assert [s["prediction_type"] for s in schedules] == ["epsilon", "v_prediction"]


def test_v_prediction_sampling_matches_diffusers_pipeline(sd2: dict[str, Any]) -> None:
    """Euler on the same sigmas from the same noisy latent: KSamplerAdvanced (add_noise disabled, so the
    start scaling is the latent's own) against StableDiffusionPipeline with prediction_type v_prediction,
    whose UNet is the diffusers folder loaded by diffusers itself."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel

    from tests.support.comfy_sigmas import comfy_sigmas

    checkpoint = sd2["v"]["single"]
    (positive,) = diffusion.clip_text_encode(CTX, "a photo of a cat", checkpoint.clip)
    (negative,) = diffusion.clip_text_encode(CTX, "text, watermark", checkpoint.clip)
    steps, cfg = 4, 5.0
    sigmas = [float(s) for s in comfy_sigmas("normal", steps)]
    noisy = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(3)) * sigmas[0]
    (ours,) = diffusion.ksampler_advanced(
        CTX,
        checkpoint.model,
        add_noise="disable",
        noise_seed=0,
        steps=steps,
        cfg=cfg,
        sampler_name="euler",
        scheduler="normal",
        positive=positive,
        negative=negative,
        latent_image={"samples": noisy},
        start_at_step=0,
        end_at_step=10000,
        return_with_leftover_noise="disable",
    )
    config = {**checkpoint.model.scheduler_config, "timestep_spacing": "linspace"}
    pipe = StableDiffusionPipeline(
        vae=checkpoint.vae.vae,
        text_encoder=checkpoint.clip.text_encoder,
        tokenizer=checkpoint.clip.tokenizer,
        unet=UNet2DConditionModel.from_pretrained(
            sd2["v"]["folder"], subfolder="unet", local_files_only=True
        ),
        scheduler=EulerDiscreteScheduler.from_config(config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    pipe.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        reference = pipe(
            prompt_embeds=positive[0][0],
            negative_prompt_embeds=negative[0][0],
            guidance_scale=cfg,
            sigmas=sigmas,  # with the final 0, as diffusers takes a custom schedule
            latents=noisy / sigmas[0],  # the pipeline scales by init_noise_sigma (sigma_max for linspace)
            output_type="latent",
        ).images
    scale = reference.abs().mean()
    difference = float((ours["samples"] - reference).abs().max() / scale)
    assert difference < 1e-3, difference  # measured: 1e-5 (float rounding)
    # And it is v: reading the same outputs as noise lands somewhere else.
    schedule = {**checkpoint.model.scheduler_config, "prediction_type": "epsilon"}
    eps_model = dataclasses.replace(
        checkpoint.model, scheduler_config=schedule, model_sampling=ModelSampling.discrete(schedule, "eps")
    )
    (as_eps,) = diffusion.ksampler_advanced(
        CTX,
        eps_model,
        add_noise="disable",
        noise_seed=0,
        steps=steps,
        cfg=cfg,
        sampler_name="euler",
        scheduler="normal",
        positive=positive,
        negative=negative,
        latent_image={"samples": noisy},
    )
    assert float((as_eps["samples"] - reference).abs().max() / scale) > 10 * difference


def test_ksampler_runs_both_families_deterministically(sd2: dict[str, Any]) -> None:
    results = []
    for prediction in ("eps", "v"):
        checkpoint = sd2[prediction]["single"]
        (positive,) = diffusion.clip_text_encode(CTX, "a photo of a cat", checkpoint.clip)
        (negative,) = diffusion.clip_text_encode(CTX, "", checkpoint.clip)
        runs = [
            diffusion.ksampler(
                CTX,
                checkpoint.model,
                seed=5,
                steps=3,
                cfg=7.0,
                sampler_name="euler",
                scheduler="normal",
                positive=positive,
                negative=negative,
                latent_image={"samples": torch.zeros(1, 4, 8, 12)},
            )[0]["samples"]
            for _ in range(2)
        ]
        assert torch.equal(runs[0], runs[1]) and torch.isfinite(runs[0]).all()
        results.append(runs[0])
    assert not torch.allclose(results[0], results[1])
