"""The sampling core (nodes/sampling/) on a tiny random SD1.5: Euler equals diffusers' Euler on the same
sigmas, the first latent is noised as ComfyUI's, flow models and LCM/x0 predictions, noise masks."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import diffusers
import numpy as np
import pytest
import torch

from nodes.diffusion import guidance
from nodes.sampling.denoiser import Denoiser
from nodes.sampling.guiders import Guider
from nodes.sampling.model_sampling import ModelSampling, model_sampling_of
from nodes.sampling.schedules import schedule_sigmas
from tests.support import sampling
from tests.support.comfy_sigmas import SD15_NOISE_SCHEDULE, model_sigmas
from tests.unit.test_latent_ops import CTX as CTX_REGIONS

pytestmark = pytest.mark.usefixtures("one_thread")

SEED = 4242
SHAPE = (2, 4, 6, 8)


def empty() -> dict[str, Any]:
    return {"samples": torch.zeros(SHAPE)}


@torch.inference_mode()
def diffusers_euler(checkpoint: Any, prompts: Any, sigmas: torch.Tensor, cfg: float) -> torch.Tensor:
    """diffusers' EulerDiscreteScheduler stepping along `sigmas`, the UNet given the nearest training
    timestep (ComfyUI's), CFG on its noise predictions; the latent starts as ComfyUI's full-strength one."""
    sched = diffusers.EulerDiscreteScheduler.from_config(SD15_NOISE_SCHEDULE)
    sched.set_timesteps(sigmas=sigmas.tolist())
    pos = guidance.prepare(prompts[0], torch.Size(SHAPE), "cpu", "positive")
    neg = guidance.prepare(prompts[1], torch.Size(SHAPE), "cpu", "negative")
    log_table = np.log(model_sigmas())
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(SEED))
    x = noise * math.sqrt(1.0 + float(sigmas[0]) ** 2)
    for i, t in enumerate(sched.timesteps):
        nearest = torch.tensor(float(np.abs(log_table - math.log(float(sigmas[i]))).argmin()))
        eps = guidance.predict_noise(checkpoint.model, sched.scale_model_input(x, t), nearest, pos, neg, cfg)
        x = sched.step(eps, t, x).prev_sample
    return x


@pytest.mark.parametrize("scheduler", ["normal", "karras", "simple"])
def test_euler_through_the_core_is_diffusers_euler_on_the_same_sigmas(checkpoint, prompts, scheduler):
    ours = sampling.ksampler(
        checkpoint, prompts, empty(), seed=SEED, steps=4, cfg=7.5, sampler_name="euler", scheduler=scheduler
    )
    sigmas = schedule_sigmas(model_sampling_of(checkpoint.model), scheduler, 4)
    theirs = diffusers_euler(checkpoint, prompts, sigmas, 7.5)
    # The core guides x0 and steps with (x - x0) / sigma, diffusers guides the noise: float32 rounding
    # of x0 is divided by sigmas down to 0.03 (karras), hence 1e-4 rather than 1e-6.
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_the_network_sees_the_nearest_training_timestep() -> None:
    ms = ModelSampling.discrete(SD15_NOISE_SCHEDULE)
    table = ms.sigmas
    between = (table[500].log() * 0.3 + table[501].log() * 0.7).exp()
    assert float(ms.timestep(between)) == 501.0
    assert float(ms.timestep(table[0])) == 0.0 and float(ms.timestep(table[-1])) == 999.0
    assert float(ms.sigma(torch.tensor(500.5))) == pytest.approx(float((table[500] * table[501]).sqrt()))


def test_a_full_strength_start_has_noise_of_variance_sigma_squared_plus_one() -> None:
    ms = ModelSampling.discrete(SD15_NOISE_SCHEDULE)
    noise, latent = torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)
    top = torch.tensor(ms.sigma_max)
    assert float(ms.noise_scaling(top, noise, latent, max_denoise=True)) == pytest.approx(
        math.sqrt(ms.sigma_max**2 + 1)
    )
    assert float(ms.noise_scaling(torch.tensor(2.0), noise, latent)) == 2.0


def test_a_flow_model_samples_from_pure_noise(checkpoint, prompts) -> None:
    # Sigma 1 on a flow model is pure noise: what the latent held does not matter.
    flow = dataclasses.replace(checkpoint.model, model_sampling=ModelSampling.flow(shift=3.0))
    run = {"seed": SEED, "steps": 3, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple"}
    image = {"samples": torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))}
    flow_ckpt = dataclasses.replace(checkpoint, model=flow)
    out = sampling.ksampler(flow_ckpt, prompts, empty(), **run)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(sampling.ksampler(flow_ckpt, prompts, image, **run), out)
    assert not torch.allclose(out, sampling.ksampler(checkpoint, prompts, empty(), **run))


def test_lcm_and_x0_predictions() -> None:
    lcm = ModelSampling.discrete(SD15_NOISE_SCHEDULE, "lcm")
    full = ModelSampling.discrete(SD15_NOISE_SCHEDULE)
    # LCM keeps every 20th training timestep: 19, 39, ..., 999.
    assert len(lcm.sigmas) == 50 and torch.equal(lcm.sigmas, full.sigmas[19::20])
    assert float(lcm.timestep(full.sigmas[999])) == 999.0 and float(lcm.timestep(full.sigmas[19])) == 19.0
    assert lcm.percent_to_sigma(0.5) == pytest.approx(full.percent_to_sigma(0.5), rel=0.02)
    x, eps = torch.randn(1, 4, 2, 2), torch.randn(1, 4, 2, 2)
    sigma = full.sigmas[499]
    # The boundary condition at timestep 499: c_skip * x + c_out * (x - sigma * eps), timestep x 10.
    scaled = 4990.0
    c_skip, c_out = 0.25 / (scaled**2 + 0.25), scaled / math.sqrt(scaled**2 + 0.25)
    torch.testing.assert_close(lcm.denoised(sigma, eps, x), c_out * (x - sigma * eps) + c_skip * x)
    x0 = ModelSampling.discrete(SD15_NOISE_SCHEDULE, "x0")
    assert torch.equal(x0.denoised(sigma, eps, x), eps)


def test_zero_terminal_snr_reaches_a_huge_last_sigma() -> None:
    zsnr = ModelSampling.discrete(SD15_NOISE_SCHEDULE, zsnr=True)
    plain = ModelSampling.discrete(SD15_NOISE_SCHEDULE)
    assert zsnr.sigma_max == pytest.approx(math.sqrt((1 - 4.8973451890853435e-08) / 4.8973451890853435e-08))
    assert zsnr.sigma_min == pytest.approx(plain.sigma_min, rel=1e-3)


@torch.inference_mode()
def test_a_noise_mask_keeps_the_original_outside_it(checkpoint, prompts) -> None:
    latent = torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(SHAPE[0], 1, *SHAPE[2:])
    mask[..., 4:] = 1.0
    guider = Guider(checkpoint.model, {"positive": prompts[0], "negative": prompts[1]}, "cfg", cfg=5.0)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    denoiser = Denoiser(guider, latent, "cpu", mask=mask, noise=noise)
    sigma = torch.tensor(3.0)
    x = latent + noise * 3.0
    out = denoiser(x, sigma)
    assert torch.equal(out[..., :4], latent[..., :4])
    # Inside the mask the prediction is the plain one for the same input.
    plain = Denoiser(guider, latent, "cpu")(x, sigma)
    torch.testing.assert_close(out[..., 5:], plain[..., 5:], rtol=1e-4, atol=1e-4)
    assert denoiser.last_uncond is not None and torch.equal(denoiser.last_uncond[..., :4], latent[..., :4])


@torch.inference_mode()
def test_timestep_ranges_follow_the_models_own_percent_to_sigma(checkpoint, prompts) -> None:
    from nodes.conditioning import ops_regions as conditioning_ops
    from tests.unit.test_latent_ops import CTX

    (late,) = conditioning_ops.conditioning_set_timestep_range(CTX, prompts[0], start=0.5, end=1.0)
    (entry,) = guidance.prepare(late, torch.Size(SHAPE), "cpu", "positive")
    flow = ModelSampling.flow(shift=3.0)
    half = flow.percent_to_sigma(0.5)  # SD3's shift of 0.5: 0.75
    assert half == pytest.approx(0.75)
    assert not entry.active(torch.tensor(0.8), flow) and entry.active(torch.tensor(0.7), flow)
    sd = ModelSampling.discrete(SD15_NOISE_SCHEDULE)
    assert entry.active(torch.tensor(sd.percent_to_sigma(0.6)), sd)
    assert not entry.active(torch.tensor(sd.percent_to_sigma(0.4)), sd)


@torch.inference_mode()
def test_areas_average_clean_latent_predictions_and_uncovered_cells_predict_zero(checkpoint, prompts):
    from nodes.conditioning import ops_regions

    # A 64x48-pixel latent (6x8 cells); the entry covers the top 3 rows only.
    (top,) = ops_regions.conditioning_set_area(
        CTX_REGIONS, prompts[0], width=64, height=24, x=0, y=0, strength=1.0
    )
    guider = Guider(checkpoint.model, {"positive": top}, "basic")
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4)) * 2.0
    out = Denoiser(guider, torch.zeros(SHAPE), "cpu")(x, torch.tensor(2.0))
    assert torch.count_nonzero(out[:, :, 3:]) == 0  # ComfyUI: no entry, a zero clean latent
    assert torch.count_nonzero(out[:, :, :3]) > 0


def test_ksampler_sigmas_follow_comfyuis_rules() -> None:
    from nodes.diffusion.ops import ksampler_sigmas

    ms = ModelSampling.discrete(SD15_NOISE_SCHEDULE)
    assert torch.equal(ksampler_sigmas(ms, "euler", "karras", 4), schedule_sigmas(ms, "karras", 4))
    # denoise < 1: the last steps of int(steps / denoise); denoise 0: nothing to run.
    assert torch.equal(ksampler_sigmas(ms, "euler", "karras", 4, 0.3), schedule_sigmas(ms, "karras", 13)[-5:])
    assert len(ksampler_sigmas(ms, "euler", "karras", 4, 0.0)) == 0
    # dpm_2, dpm_2_ancestral, uni_pc(_bh2): one more step, the second-to-last sigma dropped.
    five = schedule_sigmas(ms, "normal", 5)
    for name in ("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"):
        sigmas = ksampler_sigmas(ms, name, "normal", 4)
        assert len(sigmas) == 5 and torch.equal(sigmas, torch.cat([five[:-2], five[-1:]]))


@torch.inference_mode()
def test_cfg_pp_samplers_get_the_unconditional_prediction_at_cfg_1(checkpoint, prompts) -> None:
    guider = Guider(checkpoint.model, {"positive": prompts[0], "negative": prompts[1]}, "cfg", cfg=1.0)
    x, sigma = torch.randn(SHAPE, generator=torch.Generator().manual_seed(8)) * 2.0, torch.tensor(2.0)
    skipped = Denoiser(guider, torch.zeros(SHAPE), "cpu")
    assert skipped.names == ("positive",)
    out = skipped(x, sigma)
    assert skipped.last_uncond is not None and torch.equal(
        skipped.last_uncond, out
    )  # no unconditional pass: cfg 1 is the positive side
    kept = Denoiser(guider, torch.zeros(SHAPE), "cpu", need_uncond=True)
    torch.testing.assert_close(kept(x, sigma), out, rtol=1e-5, atol=1e-5)
    negative = Guider(checkpoint.model, {"positive": prompts[1]}, "basic")
    expected = Denoiser(negative, torch.zeros(SHAPE), "cpu")(x, sigma)
    torch.testing.assert_close(kept.last_uncond, expected, rtol=1e-5, atol=1e-5)
