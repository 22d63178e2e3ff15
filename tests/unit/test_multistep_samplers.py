"""New samplers (DPM++ 2M family, ddim) and schedules (euler_ancestral karras...) on a tiny SD1.5.

Sampling runs through the real KSampler / KSamplerAdvanced code path (nodes/diffusion/ops.py sample(),
the sampling core). Tests of a sampler not implemented yet are skipped until it is (needs_samplers).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import torch

from nodes.diffusion.samplers import COMFY_SCHEDULERS as SCHEDULERS
from tests.support import sampling
from tests.support.sampling import needs_samplers, sampler_params
from tests.unit.test_latent_ops import CTX

pytestmark = pytest.mark.usefixtures("one_thread")

SEED = 156680208700286
DPMPP = ("dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu")
SDE = ("dpmpp_2m_sde", "dpmpp_2m_sde_heun")
NEW_PAIRS = [
    pytest.param(sampler, scheduler, marks=needs_samplers(sampler))
    for sampler, scheduler in [(s, c) for s in ("ddim", *DPMPP) for c in SCHEDULERS]
    + [("euler_ancestral", "karras"), ("euler_ancestral", "exponential"), ("dpm_2_ancestral", "exponential")]
]


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # Different float paths to the same step (VP vs VE scaling) agree to ~1e-6 relative.
    return torch.allclose(a, b, rtol=1e-5, atol=2e-4)


def empty(batch: int = 1) -> dict[str, Any]:
    return {"samples": torch.zeros(batch, 4, 6, 8)}


def image_latent(**extra: Any) -> dict[str, Any]:
    return {"samples": torch.randn(1, 4, 6, 8, generator=torch.Generator().manual_seed(3)), **extra}


ksampler = partial(
    sampling.ksampler, seed=SEED, steps=3, cfg=7.5, sampler_name="dpmpp_2m", scheduler="karras"
)
advanced = partial(sampling.advanced, noise_seed=SEED, steps=4, sampler_name="dpmpp_2m", scheduler="karras")


@pytest.mark.parametrize(("sampler_name", "scheduler"), NEW_PAIRS)
def test_a_new_pair_samples_three_steps_deterministically(checkpoint, prompts, sampler_name, scheduler):
    run = ksampler(checkpoint, prompts, empty(2), sampler_name=sampler_name, scheduler=scheduler)
    assert run.shape == (2, 4, 6, 8) and torch.isfinite(run).all()
    assert not torch.allclose(run[0], run[1])  # one seed, a different noise per latent of the batch
    again = ksampler(checkpoint, prompts, empty(2), sampler_name=sampler_name, scheduler=scheduler)
    assert torch.equal(run, again)


@needs_samplers("ddim")
def test_ddim_is_comfyuis_euler(checkpoint, prompts) -> None:
    for scheduler in ("normal", "ddim_uniform"):
        euler = ksampler(checkpoint, prompts, empty(), sampler_name="euler", scheduler=scheduler)
        assert torch.equal(
            ksampler(checkpoint, prompts, empty(), sampler_name="ddim", scheduler=scheduler), euler
        )


@needs_samplers("dpmpp_2m")
def test_the_first_step_and_the_step_to_zero_are_first_order(checkpoint, prompts) -> None:
    # ComfyUI's DPM++ 2M: the first step has no history and the step to sigma 0 lands on the model's
    # prediction. With 2 steps both are first order (DDIM, i.e. Euler, for the ODE); with 3 the
    # middle step is second order.
    def both(steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        dpm = ksampler(checkpoint, prompts, empty(), steps=steps)
        return dpm, ksampler(checkpoint, prompts, empty(), steps=steps, sampler_name="euler")

    assert close(*both(2))
    assert not close(*both(3))


@pytest.mark.parametrize("sampler_name", sampler_params(*SDE))
def test_sde_noise_follows_the_seed(checkpoint, prompts, sampler_name) -> None:
    one = ksampler(checkpoint, prompts, empty(), sampler_name=sampler_name)
    assert torch.equal(one, ksampler(checkpoint, prompts, empty(), sampler_name=sampler_name))
    other_seed = ksampler(checkpoint, prompts, empty(), sampler_name=sampler_name, seed=SEED + 1)
    assert not torch.allclose(one, other_seed)


@needs_samplers("dpmpp_2m")
def test_a_latent_with_leftover_noise_is_comfyuis_latent(checkpoint, prompts) -> None:
    # A LATENT with leftover noise is ComfyUI's x whichever sampler wrote it. One first-order DPM++
    # step is Euler's step, so both stop on the same latent...
    kwargs = {"end_at_step": 1, "return_with_leftover_noise": "enable"}
    dpm = advanced(checkpoint, prompts, empty(), **kwargs)
    assert close(dpm, advanced(checkpoint, prompts, empty(), sampler_name="euler", **kwargs))
    # ...and a second stage of one step (to sigma 0, first order) reads it as Euler does.
    rest = {"add_noise": "disable", "start_at_step": 3}
    first = advanced(checkpoint, prompts, empty(), end_at_step=3, return_with_leftover_noise="enable")
    assert close(
        advanced(checkpoint, prompts, {"samples": first}, **rest),
        advanced(checkpoint, prompts, {"samples": first}, sampler_name="euler", **rest),
    )


@pytest.mark.parametrize("sampler_name", sampler_params("dpmpp_2m", "dpmpp_2m_sde"))
def test_a_split_run_restarts_the_multistep_history(checkpoint, prompts, sampler_name) -> None:
    one_run = advanced(checkpoint, prompts, empty(), sampler_name=sampler_name)
    first = advanced(
        checkpoint,
        prompts,
        empty(),
        sampler_name=sampler_name,
        end_at_step=2,
        return_with_leftover_noise="enable",
    )
    second = advanced(
        checkpoint,
        prompts,
        {"samples": first},
        sampler_name=sampler_name,
        add_noise="disable",
        start_at_step=2,
    )
    assert torch.isfinite(second).all()
    assert torch.equal(
        second,
        advanced(
            checkpoint,
            prompts,
            {"samples": first},
            sampler_name=sampler_name,
            add_noise="disable",
            start_at_step=2,
        ),
    )
    # Stage 2 starts without stage 1's last prediction, so its first step is first order (in ComfyUI
    # too, where each KSamplerAdvanced is a new sampler call): not the one-run result.
    assert not close(second, one_run)


@pytest.mark.parametrize("sampler_name", sampler_params("dpmpp_2m", "dpmpp_2m_sde"))
def test_stopping_early_without_leftover_noise_ends_on_a_first_order_step(checkpoint, prompts, sampler_name):
    stopped = advanced(checkpoint, prompts, empty(), sampler_name=sampler_name, end_at_step=2)
    leftover = advanced(
        checkpoint,
        prompts,
        empty(),
        sampler_name=sampler_name,
        end_at_step=2,
        return_with_leftover_noise="enable",
    )
    assert torch.isfinite(stopped).all()  # a second-order step to sigma 0 would divide by zero
    assert not torch.allclose(stopped, leftover)
    if sampler_name == "dpmpp_2m":
        # Step 1 is first order and the step to zero too: Euler over the same two sigmas.
        assert close(stopped, advanced(checkpoint, prompts, empty(), sampler_name="euler", end_at_step=2))


@pytest.mark.parametrize("sampler_name", sampler_params("euler", "dpmpp_2m"))
def test_denoise_runs_the_tail_of_a_longer_schedule(checkpoint, prompts, sampler_name) -> None:
    latent = image_latent()
    half = ksampler(checkpoint, prompts, latent, denoise=0.5, sampler_name=sampler_name)
    assert torch.isfinite(half).all() and not torch.allclose(half, latent["samples"], atol=1e-2)
    # Steps 3..5 of a 6-step schedule, the multistep history starting fresh at step 3.
    tail = advanced(checkpoint, prompts, latent, steps=6, start_at_step=3, sampler_name=sampler_name)
    assert torch.equal(half, tail)
    assert not torch.allclose(
        half, ksampler(checkpoint, prompts, latent, denoise=0.8, sampler_name=sampler_name)
    )


@pytest.mark.parametrize("sampler_name", sampler_params("dpmpp_2m", "dpmpp_2m_sde"))
def test_a_noise_mask_limits_the_change(checkpoint, prompts, sampler_name) -> None:
    mask = torch.zeros(1, 48, 64)
    mask[:, :, 32:] = 1.0  # right half: latent columns 4..7
    latent = image_latent(noise_mask=mask)
    out = ksampler(checkpoint, prompts, latent, sampler_name=sampler_name)
    assert torch.allclose(out[..., :3], latent["samples"][..., :3], atol=1e-5)
    assert not torch.allclose(out[..., 5:], latent["samples"][..., 5:], atol=1e-2)
    kept = image_latent(noise_mask=torch.zeros(1, 48, 64))
    for denoise in (1.0, 0.5):
        result = ksampler(checkpoint, prompts, kept, sampler_name=sampler_name, denoise=denoise)
        assert torch.allclose(result, kept["samples"], atol=1e-5)
    stopped = advanced(checkpoint, prompts, kept, sampler_name=sampler_name, end_at_step=2)
    assert torch.allclose(stopped, kept["samples"], atol=1e-5)


@pytest.mark.parametrize("scheduler", ["beta", "linear_quadratic", "kl_optimal"])
@pytest.mark.parametrize("sampler_name", sampler_params("euler", "euler_ancestral", "dpmpp_2m"))
def test_explicit_schedules_sample(checkpoint, prompts, sampler_name, scheduler) -> None:
    run = ksampler(checkpoint, prompts, empty(), sampler_name=sampler_name, scheduler=scheduler, steps=4)
    assert torch.isfinite(run).all()
    assert torch.equal(
        run, ksampler(checkpoint, prompts, empty(), sampler_name=sampler_name, scheduler=scheduler, steps=4)
    )
    assert not torch.equal(run, ksampler(checkpoint, prompts, empty(), sampler_name=sampler_name, steps=4))


def test_a_beta_schedule_shorter_than_its_steps_still_runs_every_mode(checkpoint, prompts) -> None:
    # At many steps the beta quantiles repeat training timesteps; like ComfyUI the list drops them.
    from nodes.sampling.model_sampling import model_sampling_of
    from nodes.sampling.schedules import beta

    available = len(beta(model_sampling_of(checkpoint.model), 300)) - 1
    assert available < 300
    small = {"samples": torch.zeros(1, 4, 2, 2)}
    common = {"sampler_name": "euler", "scheduler": "beta", "steps": 300}

    def steps_run(run) -> int:
        before = len(CTX.steps)
        assert torch.isfinite(run()).all()
        return len(CTX.steps) - before

    # denoise 0.5: the last 300 steps of the (shortened) 600-step schedule.
    assert steps_run(lambda: ksampler(checkpoint, prompts, small, denoise=0.5, **common)) == 300
    # start_at_step counts from the start of the shortened schedule: 290 .. its end.
    assert (
        steps_run(lambda: advanced(checkpoint, prompts, small, start_at_step=290, **common))
        == available - 290
    )
    # Starting past its end runs nothing and returns the latent as it came.
    assert torch.equal(
        advanced(checkpoint, prompts, small, start_at_step=available, **common), small["samples"]
    )
