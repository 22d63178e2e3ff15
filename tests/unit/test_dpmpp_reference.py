"""dpmpp_2m and dpmpp_2m_sde(_heun) equal an independent DPM-Solver++ written in ComfyUI's terms.

The reference below is DPM-Solver++(2M) and its SDE variant (Lu et al. 2022) on the latent x and
sigma, the formulation ComfyUI's samplers use (t = -log sigma, the model's prediction of the clean
latent, eta 1, the step to sigma 0 landing on that prediction). It shares nothing with diffusers: if
the schedule, the noise scaling or the timesteps in the sampling core drifted, the results would part.
The SDE noise here is the Brownian tree's increments over the same schedule and seed, drawn
independently of the sampler's own code path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nodes.diffusion import guidance
from nodes.diffusion import ops as diffusion
from nodes.diffusion.handles import Checkpoint
from nodes.diffusion.loading import load_diffusers_checkpoint
from tests.support.comfy_sigmas import comfy_sigmas, model_sigmas
from tests.support.sampling import needs_samplers
from tests.unit.test_latent_ops import CTX
from tiny_models.sd15 import write_tiny_sd15_diffusers

pytestmark = pytest.mark.usefixtures("one_thread")

SEED = 2024
CFG = 6.0
SHAPE = (2, 4, 6, 8)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Checkpoint:
    path: Path = tmp_path_factory.mktemp("models") / "tiny-sd15"
    write_tiny_sd15_diffusers(path, seed=1)
    return load_diffusers_checkpoint(path, "cpu")


@pytest.fixture(scope="module")
def prompts(checkpoint: Checkpoint) -> tuple[Any, Any]:
    (positive,) = diffusion.clip_text_encode(CTX, "a lighthouse at dusk", checkpoint.clip)
    (negative,) = diffusion.clip_text_encode(CTX, "blurry", checkpoint.clip)
    return positive, negative


def _denoiser(checkpoint: Checkpoint, prompts: tuple[Any, Any]):
    positive = guidance.prepare(prompts[0], torch.Size(SHAPE), "cpu", "positive")
    negative = guidance.prepare(prompts[1], torch.Size(SHAPE), "cpu", "negative")
    log_table = np.log(model_sigmas())

    def denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
        # The UNet's timestep for sigma: the nearest training timestep in log sigma (ComfyUI's).
        t = torch.tensor(float(np.abs(log_table - math.log(sigma)).argmin()), dtype=torch.float32)
        eps = guidance.predict_noise(
            checkpoint.model, x / math.sqrt(1 + sigma * sigma), t, positive, negative, CFG
        )
        return x - sigma * eps

    return denoise


def reference(denoise, sigmas: np.ndarray, generator: torch.Generator, sde: str | None) -> torch.Tensor:
    # A full-strength start: noise of variance sigma_max^2 + 1 (ComfyUI's max_denoise).
    x = torch.randn(SHAPE, generator=generator) * math.sqrt(1.0 + float(sigmas[0]) ** 2)
    # The SDE noise: increments of one Brownian path over the schedule's range, seeded with the run's
    # seed (torchsde's BrownianTree, as ComfyUI draws it).
    from nodes.sampling.noise import brownian_noise_sampler

    brownian = brownian_noise_sampler(torch.zeros(SHAPE), torch.tensor(sigmas, dtype=torch.float32), SEED)
    previous: torch.Tensor | None = None
    h_previous = 1.0  # read only once `previous` is set
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        denoised = denoise(x, sigma)
        noise = brownian(torch.tensor(sigma), torch.tensor(sigma_next)) if sde else None
        if sigma_next == 0:
            x = denoised
        elif sde is None:
            h = math.log(sigma) - math.log(sigma_next)
            target = denoised
            if previous is not None:
                r = h_previous / h
                target = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous
            x = (sigma_next / sigma) * x - math.expm1(-h) * target
        else:
            h = math.log(sigma) - math.log(sigma_next)
            x = (sigma_next / sigma) * math.exp(-h) * x - math.expm1(-2 * h) * denoised
            if previous is not None:
                r = h_previous / h
                if sde == "midpoint":
                    x = x - 0.5 * math.expm1(-2 * h) * (denoised - previous) / r
                else:
                    x = x + (math.expm1(-2 * h) / (2 * h) + 1) * (denoised - previous) / r
            assert noise is not None
            x = x + noise * sigma_next * math.sqrt(-math.expm1(-2 * h))
        if sigma_next != 0:
            h_previous = h
        previous = denoised
    return x


@pytest.mark.parametrize(
    ("sampler_name", "sde"),
    [
        pytest.param(name, sde, marks=needs_samplers(name))
        for name, sde in [("dpmpp_2m", None), ("dpmpp_2m_sde", "midpoint"), ("dpmpp_2m_sde_heun", "heun")]
    ],
)
@pytest.mark.parametrize("scheduler", ["karras", "normal"])
@torch.inference_mode()
def test_the_sampler_is_comfyuis_dpm_solver(checkpoint, prompts, sampler_name, sde, scheduler) -> None:
    steps = 4
    (out,) = diffusion.ksampler(
        CTX,
        checkpoint.model,
        seed=SEED,
        steps=steps,
        cfg=CFG,
        sampler_name=sampler_name,
        scheduler=scheduler,
        positive=prompts[0],
        negative=prompts[1],
        latent_image={"samples": torch.zeros(SHAPE)},
    )
    expected = reference(
        _denoiser(checkpoint, prompts),
        comfy_sigmas(scheduler, steps),
        torch.Generator().manual_seed(SEED),
        sde,
    )
    assert torch.allclose(out["samples"], expected.float(), rtol=1e-4, atol=1e-3)
