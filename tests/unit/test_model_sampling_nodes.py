"""ModelSamplingDiscrete/SD3/AuraFlow/Flux: a new MODEL with the published noise schedule, the cached
handle untouched; a flow MODEL samples through the core."""

from __future__ import annotations

import math

import pytest
import torch

from nodes.custom_sampling import ops, ops_model, ops_sigmas
from nodes.sampling.model_sampling import model_sampling_of
from nodes.sampling.schedules import schedule_sigmas
from tests.support import sampling
from tests.unit.test_latent_ops import CTX

pytestmark = pytest.mark.usefixtures("one_thread")


def sd3_shift(shift: float, t: float) -> float:
    """Esser et al. 2024 (SD3), eq. 23: t' = shift * t / (1 + (shift - 1) * t)."""
    return shift * t / (1 + (shift - 1) * t)


def flux_shift(mu: float, t: float) -> float:
    """Black Forest Labs' FLUX time shift: t' = e^mu / (e^mu + 1 / t - 1)."""
    return math.exp(mu) / (math.exp(mu) + 1 / t - 1)


def test_model_sampling_sd3_is_the_shifted_flow_schedule(checkpoint) -> None:
    (model,) = ops_model.model_sampling_sd3(CTX, checkpoint.model, 3.0)
    assert checkpoint.model.model_sampling is None  # the cached handle is not changed
    assert model.unet is checkpoint.model.unet
    ms = model.model_sampling
    assert ms.prediction == "flow" and ms.multiplier == 1000.0
    assert ms.sigma_max == pytest.approx(1.0) and ms.sigma_min == pytest.approx(
        sd3_shift(3.0, 0.001), rel=1e-5
    )
    for t in (0.1, 0.5, 0.9):
        assert float(ms.sigma(torch.tensor(t * 1000))) == pytest.approx(sd3_shift(3.0, t), rel=1e-5)
    assert float(ms.timestep(torch.tensor(0.25))) == pytest.approx(250.0)
    simple = schedule_sigmas(ms, "simple", 4)
    assert simple.tolist() == pytest.approx(
        [sd3_shift(3.0, t) for t in (1.0, 0.75, 0.5, 0.25)] + [0.0], rel=1e-5
    )
    # A flow model's latent: x = (1 - sigma) * x0 + sigma * noise, and back.
    x0, noise = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 3.0)
    noised = ms.noise_scaling(torch.tensor(0.25), noise, x0, max_denoise=True)
    assert float(noised) == pytest.approx(0.75 + 0.75)
    assert float(ms.denoised(torch.tensor(0.25), noise - x0, noised)) == pytest.approx(1.0)


def test_model_sampling_aura_flow_and_a_flow_models_own_multiplier(checkpoint) -> None:
    (aura,) = ops_model.model_sampling_aura_flow(CTX, checkpoint.model, 1.73)
    assert aura.model_sampling.multiplier == 1.0 and aura.model_sampling.shift == 1.73
    assert float(aura.model_sampling.sigma(torch.tensor(0.5))) == pytest.approx(
        sd3_shift(1.73, 0.5), rel=1e-5
    )
    # On a model that already is flow, the loader's multiplier (its network's timestep) stays.
    (sd3,) = ops_model.model_sampling_sd3(CTX, checkpoint.model, 3.0)
    (again,) = ops_model.model_sampling_aura_flow(CTX, sd3, 2.0)
    assert again.model_sampling.multiplier == 1000.0 and again.model_sampling.shift == 2.0


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (512, 512), (1024, 768)])
def test_model_sampling_flux_shifts_by_resolution(checkpoint, width, height) -> None:
    (model,) = ops_model.model_sampling_flux(CTX, checkpoint.model, 1.15, 0.5, width, height)
    ms = model.model_sampling
    patches = width * height / 256  # 16x16 pixels per 2x2 patch of 8x latent cells
    mu = 0.5 + (1.15 - 0.5) * (patches - 256) / (4096 - 256)
    assert ms.flux_shift and ms.shift == pytest.approx(mu)
    if (width, height) == (1024, 1024):
        assert mu == pytest.approx(1.15)
    for t in (0.1, 0.5, 0.9):
        assert float(ms.sigma(torch.tensor(t))) == pytest.approx(flux_shift(mu, t), rel=1e-5)
    assert len(ms.sigmas) == 10_000 and ms.sigma_min == pytest.approx(flux_shift(mu, 1e-4), rel=1e-4)


def test_model_sampling_discrete_sets_the_prediction(checkpoint) -> None:
    base = model_sampling_of(checkpoint.model)
    (v,) = ops_model.model_sampling_discrete(CTX, checkpoint.model, "v_prediction", False)
    assert v.model_sampling.prediction == "v" and torch.equal(v.model_sampling.sigmas, base.sigmas)
    (lcm,) = ops_model.model_sampling_discrete(CTX, checkpoint.model, "lcm", False)
    assert lcm.model_sampling.prediction == "lcm" and len(lcm.model_sampling.sigmas) == 50
    (zsnr,) = ops_model.model_sampling_discrete(CTX, checkpoint.model, "eps", True)
    assert zsnr.model_sampling.sigma_max > 4000 and base.sigma_max < 15
    with pytest.raises(ValueError, match="img_to_img"):
        ops_model.model_sampling_discrete(CTX, checkpoint.model, "img_to_img", False)


def test_a_flow_and_a_v_model_sample_through_ksampler_and_sampler_custom(checkpoint, prompts) -> None:
    latent = {"samples": torch.zeros(1, 4, 6, 8)}
    run = {"seed": 5, "steps": 3, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal"}
    results = []
    for model in (
        ops_model.model_sampling_sd3(CTX, checkpoint.model, 3.0)[0],
        ops_model.model_sampling_flux(CTX, checkpoint.model, 1.15, 0.5, 64, 48)[0],
        ops_model.model_sampling_discrete(CTX, checkpoint.model, "v_prediction", False)[0],
        ops_model.model_sampling_discrete(CTX, checkpoint.model, "lcm", False)[0],
    ):
        handle = type(checkpoint)(model, checkpoint.clip, checkpoint.vae)
        out = sampling.ksampler(handle, prompts, latent, **run)
        assert torch.isfinite(out).all()
        (sigmas,) = ops_sigmas.basic_scheduler(CTX, model, "normal", 3, 1.0)
        (euler,) = ops.ksampler_select(CTX, "euler")
        custom, _ = ops.sampler_custom(
            CTX, model, True, 5, 3.0, prompts[0], prompts[1], euler, sigmas, latent
        )
        assert torch.equal(custom["samples"], out)
        results.append(out)
    assert not torch.allclose(results[0], results[2])
