"""KSamplerAdvanced, noise masks, batch_index noise and VAEEncodeForInpaint on a tiny random SD1.5."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import torch

from nodes.diffusion.samplers import COMFY_SAMPLERS
from nodes.latent import ops as latent_ops
from nodes.latent import ops_transform
from nodes.sampling.names import IMPLEMENTED_SAMPLERS
from tests.support import sampling
from tests.unit.test_latent_ops import CTX

SEED = 156680208700286


def input_latent(batch: int = 1, **extra: Any) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(3)
    return {"samples": torch.randn(batch, 4, 6, 8, generator=generator), **extra}


ksampler = partial(sampling.ksampler, seed=SEED, steps=4, cfg=7.5, sampler_name="euler", scheduler="normal")
advanced = partial(sampling.advanced, noise_seed=SEED, steps=4, sampler_name="euler", scheduler="normal")


# --- KSamplerAdvanced ----------------------------------------------------------------------------


@pytest.mark.parametrize("sampler_name", sampling.sampler_params("euler", "euler_ancestral", "heun", "lms"))
@pytest.mark.parametrize("end_at_step", [4, 10000])
def test_advanced_over_all_steps_equals_ksampler(checkpoint, prompts, sampler_name, end_at_step) -> None:
    empty = {"samples": torch.zeros(2, 4, 6, 8)}
    expected = ksampler(checkpoint, prompts, empty, sampler_name=sampler_name)
    got = advanced(checkpoint, prompts, empty, sampler_name=sampler_name, end_at_step=end_at_step)
    assert torch.equal(got, expected)


def test_stopping_early_with_leftover_noise_differs_from_the_full_run(checkpoint, prompts) -> None:
    empty = {"samples": torch.zeros(1, 4, 6, 8)}
    full = advanced(checkpoint, prompts, empty)
    leftover = advanced(checkpoint, prompts, empty, end_at_step=2, return_with_leftover_noise="enable")
    denoised = advanced(checkpoint, prompts, empty, end_at_step=2)
    assert not torch.allclose(leftover, full)
    assert not torch.allclose(leftover, denoised)

    # Euler's step from sigma_1 ends on the same line through x_1 and the model's prediction:
    # at sigma_2 with leftover noise, at sigma 0 (the prediction itself) without. The sigmas are
    # diffusers' Euler "linspace" ones, which are ComfyUI's "normal" (the recording says so).
    import diffusers

    scheduler = diffusers.EulerDiscreteScheduler.from_config(
        {**checkpoint.model.scheduler_config, "timestep_spacing": "linspace"}
    )
    scheduler.set_timesteps(4)
    sigma_1, sigma_2 = scheduler.sigmas[1].item(), scheduler.sigmas[2].item()
    x_1 = advanced(checkpoint, prompts, empty, end_at_step=1, return_with_leftover_noise="enable")
    assert torch.allclose(leftover - denoised, (x_1 - denoised) * sigma_2 / sigma_1, atol=1e-4)


def test_two_stages_with_leftover_noise_equal_one_run(checkpoint, prompts) -> None:
    # ComfyUI's refiner pattern: stage 1 stops with leftover noise, stage 2 continues without new noise.
    empty = {"samples": torch.zeros(1, 4, 6, 8)}
    first = advanced(checkpoint, prompts, empty, end_at_step=2, return_with_leftover_noise="enable")
    second = advanced(checkpoint, prompts, {"samples": first}, add_noise="disable", start_at_step=2)
    assert torch.allclose(second, advanced(checkpoint, prompts, empty), atol=1e-5)


def test_a_start_at_or_past_the_end_returns_the_latent(checkpoint, prompts) -> None:
    latent = input_latent()
    assert torch.equal(advanced(checkpoint, prompts, latent, start_at_step=4), latent["samples"])
    assert torch.equal(
        advanced(checkpoint, prompts, latent, start_at_step=3, end_at_step=3), latent["samples"]
    )


def test_advanced_refuses_a_sampler_it_cannot_honour(checkpoint, prompts) -> None:
    missing = [name for name in COMFY_SAMPLERS if name not in IMPLEMENTED_SAMPLERS]
    if not missing:
        pytest.skip("every ComfyUI sampler is implemented")
    with pytest.raises(ValueError, match=f"{missing[0]}.*not implemented"):
        advanced(checkpoint, prompts, input_latent(), sampler_name=missing[0])


# --- Noise masks ---------------------------------------------------------------------------------


def test_a_zero_noise_mask_keeps_the_latent(checkpoint, prompts) -> None:
    latent = input_latent(noise_mask=torch.zeros(1, 48, 64))
    assert torch.allclose(ksampler(checkpoint, prompts, latent), latent["samples"], atol=1e-5)
    assert torch.allclose(ksampler(checkpoint, prompts, latent, denoise=0.5), latent["samples"], atol=1e-5)


def test_a_full_noise_mask_is_no_mask(checkpoint, prompts) -> None:
    unmasked = ksampler(checkpoint, prompts, input_latent())
    masked = ksampler(checkpoint, prompts, input_latent(noise_mask=torch.ones(1, 1, 48, 64)))
    assert not torch.allclose(masked, input_latent()["samples"])
    assert torch.equal(masked, unmasked)


@pytest.mark.parametrize("sampler_name", sampling.sampler_params("euler", "heun", "dpm_2_ancestral"))
def test_only_the_masked_half_changes(checkpoint, prompts, sampler_name) -> None:
    mask = torch.zeros(2, 48, 64)
    mask[:, :, 32:] = 1.0  # right half, resized to the 8-wide latent: columns 4..7
    latent = input_latent(batch=2, noise_mask=mask)
    out = ksampler(checkpoint, prompts, latent, sampler_name=sampler_name)
    assert torch.allclose(out[..., :3], latent["samples"][..., :3], atol=1e-5)
    assert not torch.allclose(out[..., 5:], latent["samples"][..., 5:], atol=1e-2)


@pytest.mark.parametrize("sampler_name", sampling.sampler_params("euler", "heun"))
def test_advanced_honours_the_mask_when_stopping_early(checkpoint, prompts, sampler_name) -> None:
    latent = input_latent(noise_mask=torch.zeros(1, 48, 64))
    out = advanced(checkpoint, prompts, latent, sampler_name=sampler_name, end_at_step=2)
    assert torch.allclose(out, latent["samples"], atol=1e-5)


def test_a_noise_mask_batch_that_does_not_fit_is_an_error(checkpoint, prompts) -> None:
    latent = input_latent(batch=3, noise_mask=torch.zeros(2, 48, 64))
    with pytest.raises(ValueError, match="noise_mask"):
        ksampler(checkpoint, prompts, latent)


# --- batch_index ---------------------------------------------------------------------------------


def test_a_latent_taken_from_a_batch_gets_the_noise_it_had_there(checkpoint, prompts) -> None:
    batch = {"samples": torch.zeros(3, 4, 6, 8)}
    whole = ksampler(checkpoint, prompts, batch)
    (second,) = ops_transform.latent_from_batch(CTX, batch, batch_index=1, length=1)
    assert torch.allclose(ksampler(checkpoint, prompts, second), whole[1:2], atol=1e-4)
    (repeated,) = ops_transform.repeat_latent_batch(CTX, second, amount=2)
    out = ksampler(checkpoint, prompts, repeated)
    assert repeated["batch_index"] == [1, 2]
    assert torch.allclose(out, whole[1:3], atol=1e-4)


# --- VAEEncodeForInpaint -------------------------------------------------------------------------


def test_vae_encode_for_inpaint_greys_the_masked_pixels_and_grows_the_noise_mask(checkpoint) -> None:
    pixels = torch.rand(2, 36, 52, 3, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 36, 52)
    mask[:, 10:20, 20:30] = 1.0
    (out,) = latent_ops.vae_encode_for_inpaint(CTX, pixels, checkpoint.vae, mask, grow_mask_by=6)
    # 36x52 loses a centred margin to the 8-pixel grid: 32x48, offset (2, 2).
    assert out["samples"].shape == (2, 4, 4, 6)
    noise_mask = out["noise_mask"]
    assert noise_mask.shape == (1, 1, 32, 48)
    rows = noise_mask[0, 0].amax(dim=1).nonzero().flatten()
    cols = noise_mask[0, 0].amax(dim=0).nonzero().flatten()
    # The hole is rows 8..17, columns 18..27 of the cropped frame; an even 6x6 window grows it
    # 2 pixels up and left and 3 down and right (ComfyUI's window).
    assert (rows.min().item(), rows.max().item()) == (6, 20)
    assert (cols.min().item(), cols.max().item()) == (16, 30)

    # Whatever was under the mask does not reach the latent.
    painted = pixels.clone()
    painted[:, 10:20, 20:30] = 1.0 - painted[:, 10:20, 20:30]
    (again,) = latent_ops.vae_encode_for_inpaint(CTX, painted, checkpoint.vae, mask, grow_mask_by=6)
    assert torch.equal(again["samples"], out["samples"])
    (plain,) = latent_ops.vae_encode(CTX, pixels, checkpoint.vae)
    assert plain["samples"].shape == (2, 4, 4, 6)


def test_vae_encode_for_inpaint_without_growth_keeps_the_mask(checkpoint) -> None:
    pixels = torch.rand(1, 32, 32, 3)
    mask = torch.zeros(32, 32)
    mask[4:8, 4:8] = 0.8
    (out,) = latent_ops.vae_encode_for_inpaint(CTX, pixels, checkpoint.vae, mask, grow_mask_by=0)
    expected = torch.zeros(1, 1, 32, 32)
    expected[..., 4:8, 4:8] = 1.0
    assert torch.equal(out["noise_mask"], expected)
    with pytest.raises(ValueError, match="mask"):
        latent_ops.vae_encode_for_inpaint(
            CTX, torch.rand(2, 32, 32, 3), checkpoint.vae, torch.zeros(3, 32, 32)
        )


def test_an_inpainting_latent_samples_only_inside_its_mask(checkpoint, prompts) -> None:
    pixels = torch.rand(1, 48, 64, 3, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(1, 48, 64)
    mask[:, :, 40:] = 1.0
    (encoded,) = latent_ops.vae_encode_for_inpaint(CTX, pixels, checkpoint.vae, mask, grow_mask_by=6)
    out = ksampler(checkpoint, prompts, encoded)
    # Grown by 6 px the mask starts at pixel 37: latent columns 0..3 lie outside it.
    assert torch.allclose(out[..., :4], encoded["samples"][..., :4], atol=1e-5)
    assert not torch.allclose(out[..., 6:], encoded["samples"][..., 6:], atol=1e-2)
