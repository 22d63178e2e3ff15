"""ComfyUI's sigma schedules for SD1.5, rebuilt from their published definitions (no ComfyUI code).

The recordings in tests/data/comfyui/sigma_schedule_*.json hold, per ComfyUI scheduler, the length,
first and last non-zero sigma and the largest relative difference from each diffusers spacing at 20
steps; tests/unit/test_sampler_schedules.py checks that these schedules reproduce every number there
before using them as the reference.
"""

from __future__ import annotations

import json
import math

import numpy as np

from tests.support.comfy_contract import CONTRACT_DIR

RECORDINGS = CONTRACT_DIR
SD15_NOISE_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
}


def recording(name: str) -> dict:
    return json.loads((RECORDINGS / f"sigma_schedule_{name}.json").read_text())


def model_sigmas() -> np.ndarray:
    """SD1.5's sigma at each training timestep (scaled-linear betas)."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas)
    return np.sqrt((1.0 - alphas_cumprod) / alphas_cumprod)


def _sigma_at(timesteps: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The sigma at fractional timesteps: linear in log sigma between training timesteps."""
    low = np.floor(timesteps).astype(int)
    high = np.minimum(low + 1, len(table) - 1)
    weight = timesteps - low
    return np.exp((1.0 - weight) * np.log(table[low]) + weight * np.log(table[high]))


def comfy_sigmas(scheduler: str, steps: int) -> np.ndarray:
    """`steps` + 1 sigmas, the last 0, as ComfyUI's `scheduler` gives them for SD1.5."""
    table = model_sigmas()
    last_t = len(table) - 1
    sigma_min, sigma_max = table[0], table[-1]
    if scheduler == "normal":  # timesteps evenly from the first to the last
        sigmas = _sigma_at(np.linspace(last_t, 0, steps), table)
    elif scheduler == "sgm_uniform":  # the same, with the end point left out
        sigmas = _sigma_at(np.linspace(last_t, 0, steps + 1)[:-1], table)
    elif scheduler == "simple":  # every (1000 / steps)-th training sigma from the top
        stride = len(table) / steps
        sigmas = np.array([table[-(1 + int(i * stride))] for i in range(steps)])
    elif scheduler == "karras":  # Karras et al. (2022), rho = 7
        ramp = np.linspace(0, 1, steps)
        rho = 7.0
        sigmas = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    elif scheduler == "exponential":  # evenly in log sigma
        sigmas = np.exp(np.linspace(math.log(sigma_max), math.log(sigma_min), steps))
    elif scheduler == "ddim_uniform":  # training timesteps 1, 1 + 1000 // steps, ... from the top
        sigmas = table[list(range(1, len(table), max(len(table) // steps, 1)))][::-1]
    elif scheduler in ("beta", "linear_quadratic", "kl_optimal"):
        # The product's; test_sampler_schedules checks them against the recording.
        from nodes.sampling.model_sampling import ModelSampling
        from nodes.sampling.schedules import SCHEDULES

        return SCHEDULES[scheduler](ModelSampling.discrete(SD15_NOISE_SCHEDULE), steps).double().numpy()
    else:
        raise ValueError(f"no reference schedule for {scheduler!r}")
    return np.concatenate([sigmas, [0.0]])


def relative_difference(sigmas: np.ndarray, reference: np.ndarray) -> float:
    """The recordings' measure: the largest |a - b| / b over the reference's non-zero sigmas."""
    if len(sigmas) != len(reference):
        return math.inf
    nonzero = reference > 0
    return float((np.abs(sigmas[nonzero] - reference[nonzero]) / reference[nonzero]).max())
