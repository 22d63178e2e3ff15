"""Samplers against diffusers' independent implementations of the same algorithms, step for step.

Both sides see the closed-form Gaussian denoiser on the same sigmas (the scheduler's own, float32 as
diffusers keeps them) and, for the stochastic ones, the same noise. diffusers' "Euler-family"
schedulers keep the variance-exploding latent and scale the model input by 1 / sqrt(sigma^2 + 1); the
multistep ones keep x / sqrt(sigma^2 + 1). Where ComfyUI's variant differs, the test puts diffusers
into the same configuration (noted at each test); DEIS and LCM have no such counterpart (diffusers'
DEIS integrates in log-rho, its LCM applies consistency boundary scalings), see docs/samplers.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffusers
import pytest
import torch

from nodes.sampling.samplers import SamplerRun, sampler_function
from tests.support.analytic_denoiser import GaussianDenoiser

TRAINING = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
}
Z = torch.randn(512, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
QUIET = SamplerRun(seed=11, callback=lambda i, x, denoised: None)
VP = {"DPMSolverMultistepScheduler", "UniPCMultistepScheduler"}


def _diffusers_run(
    scheduler: Any,
    model: GaussianDenoiser,
    x: torch.Tensor,
    step_kwargs: Callable[[int], dict] = lambda i: {},
) -> torch.Tensor:
    """diffusers' denoising loop with the analytic model as its eps-predicting network."""
    vp = type(scheduler).__name__ in VP
    sample = x / (1 + float(scheduler.sigmas[0]) ** 2) ** 0.5 if vp else x.clone()
    for i, t in enumerate(scheduler.timesteps):
        model_in = scheduler.scale_model_input(sample, t)
        if vp:
            index = scheduler.step_index or 0
            sigma = scheduler.sigmas[index].double()
            x_ve = sample * (1 + sigma**2).sqrt()
        else:  # the input scaling tells the sigma this evaluation is at
            sigma = ((sample / model_in).mean() ** 2 - 1).sqrt()
            x_ve = sample
        eps = (x_ve - model(x_ve, sigma)) / sigma
        sample = scheduler.step(eps, t, sample, **step_kwargs(i)).prev_sample
    return sample


def _ours(name: str, sigmas: torch.Tensor, x: torch.Tensor, **options: object) -> torch.Tensor:
    return sampler_function(name)(GaussianDenoiser(), x.clone(), sigmas, QUIET, **options)


def _start(sigma: float) -> torch.Tensor:
    return GaussianDenoiser().marginal(Z, sigma)


def _schedule(class_name: str, steps: int, **config: Any) -> tuple[Any, torch.Tensor]:
    scheduler = getattr(diffusers, class_name)(**TRAINING, **config)
    scheduler.set_timesteps(steps)
    return scheduler, torch.unique_consecutive(scheduler.sigmas.double())


@pytest.mark.parametrize(
    ("name", "class_name", "config", "steps"),
    [
        ("euler", "EulerDiscreteScheduler", {}, 10),
        ("heun", "HeunDiscreteScheduler", {}, 8),
        ("dpm_2", "KDPM2DiscreteScheduler", {}, 8),
        ("lms", "LMSDiscreteScheduler", {}, 12),
        ("heun", "HeunDiscreteScheduler", {"use_karras_sigmas": True}, 8),
        ("lms", "LMSDiscreteScheduler", {"use_karras_sigmas": True}, 12),
    ],
)
def test_euler_family_matches_diffusers(name: str, class_name: str, config: dict, steps: int) -> None:
    scheduler, sigmas = _schedule(class_name, steps, **config)
    x = _start(float(sigmas[0]))
    theirs = _diffusers_run(scheduler, GaussianDenoiser(), x)
    torch.testing.assert_close(_ours(name, sigmas, x), theirs, rtol=1e-5, atol=1e-5)


# DPM-Solver++(2M) as ComfyUI runs it: first order on the first step and the step to sigma 0. diffusers
# also drops the second-to-last step to first order below 15 steps, so compare at 20.
_DPMPP = {"solver_order": 2, "final_sigmas_type": "zero", "lower_order_final": True, "euler_at_final": False}


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("dpmpp_2m", {"algorithm_type": "dpmsolver++", "solver_type": "midpoint"}),
        ("dpmpp_2m_sde", {"algorithm_type": "sde-dpmsolver++", "solver_type": "midpoint"}),
        ("dpmpp_2m_sde_heun", {"algorithm_type": "sde-dpmsolver++", "solver_type": "heun"}),
    ],
)
def test_dpmpp_2m_family_matches_diffusers_with_the_same_noise(name: str, config: dict) -> None:
    scheduler, sigmas = _schedule("DPMSolverMultistepScheduler", 20, **_DPMPP, **config)
    x = _start(float(sigmas[0]))
    generator = torch.Generator().manual_seed(3)
    noises = [torch.randn(Z.shape, generator=generator, dtype=Z.dtype) for _ in range(20)]
    drawn = iter(noises)
    options = {"noise_sampler": lambda s, s_next: next(drawn)} if "sde" in name else {}
    ours = _ours(name, sigmas, x, **options)
    theirs = _diffusers_run(scheduler, GaussianDenoiser(), x, lambda i: {"variance_noise": noises[i]})
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_dpmpp_sde_matches_diffusers_with_the_same_brownian_tree() -> None:
    # diffusers' DPMSolverSDEScheduler: DPM-Solver++(2S) SDE, eta 1, r 1/2, a BrownianTree over the
    # schedule seeded like ours; its own interleaved midpoints are ours (t + h / 2)
    scheduler, sigmas = _schedule("DPMSolverSDEScheduler", 8, noise_sampler_seed=11)
    # float64 there too: a Brownian increment moves by sqrt(dt), so float32 rounding of the query
    # times (diffusers recomputes sigma = exp(log sigma)) alone shifts the noise by ~1e-3
    scheduler.sigmas = scheduler.sigmas.double()
    x = _start(float(sigmas[0]))
    theirs = _diffusers_run(scheduler, GaussianDenoiser(), x)
    torch.testing.assert_close(_ours("dpmpp_sde", sigmas, x), theirs, rtol=1e-5, atol=1e-5)


def test_euler_ancestral_matches_diffusers_with_the_same_noise() -> None:
    scheduler, sigmas = _schedule("EulerAncestralDiscreteScheduler", 10)
    x = _start(float(sigmas[0]))
    ours_gen, their_gen = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    noise = lambda s, s_next: torch.randn(Z.shape, generator=ours_gen, dtype=torch.float64)  # noqa: E731
    ours = _ours("euler_ancestral", sigmas, x, noise_sampler=noise)
    theirs = _diffusers_run(scheduler, GaussianDenoiser(), x, lambda i: {"generator": their_gen})
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
def test_uni_pc_matches_diffusers_ending_at_sigma_0_001(variant: str) -> None:
    # ComfyUI's UniPC: order min(3, steps - 1), lower order at the end, a final sigma 0 replaced by
    # 0.001 and the latent returned there; diffusers' UniPC does the rest alike once told that end
    config = {"solver_order": 3, "solver_type": variant, "lower_order_final": True}
    config["final_sigmas_type"] = "zero"
    scheduler, sigmas = _schedule("UniPCMultistepScheduler", 10, **config)
    scheduler.sigmas[-1] = 0.001
    x = _start(float(sigmas[0])).reshape(1, 2, 16, 16)  # diffusers' UniPC wants image-shaped latents
    theirs = _diffusers_run(scheduler, GaussianDenoiser(), x) * (1 + 0.001**2) ** 0.5
    ours = _ours("uni_pc" if variant == "bh1" else "uni_pc_bh2", sigmas, x)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_dpm_2_ancestral_matches_diffusers_with_the_same_noise() -> None:
    scheduler, sigmas = _schedule("KDPM2AncestralDiscreteScheduler", 8)
    x = _start(float(sigmas[0]))
    ours_gen, their_gen = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    noise = lambda s, s_next: torch.randn(Z.shape, generator=ours_gen, dtype=torch.float64)  # noqa: E731
    ours = _ours("dpm_2_ancestral", sigmas, x, noise_sampler=noise)
    theirs = _diffusers_run(scheduler, GaussianDenoiser(), x, lambda i: {"generator": their_gen})
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
