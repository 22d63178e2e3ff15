"""Implementations of the ModelSampling* nodes: a new MODEL handle with another ModelSampling.

The cached handle is never changed (dataclasses.replace). A flow model keeps its `multiplier` (the
factor to the timestep its family's network takes, set by its loader); a model that was not flow
gets ComfyUI's for the node (SD3 1000; AuraFlow and FLUX 1).
"""

from __future__ import annotations

import dataclasses

from nodes.context import NodeContext
from nodes.custom_sampling.specs_model import UNSUPPORTED_SAMPLINGS
from nodes.diffusion.handles import ModelHandle
from nodes.sampling.model_sampling import ModelSampling, Prediction

DISCRETE_PREDICTIONS: dict[str, Prediction] = {"eps": "eps", "v_prediction": "v", "lcm": "lcm", "x0": "x0"}
# FLUX's resolution-dependent shift: mu is linear in the number of 2x2 latent patches, from
# base_shift at 256 patches to max_shift at 4096 (Black Forest Labs' reference).
FLUX_BASE_PATCHES, FLUX_MAX_PATCHES = 256, 4096
FLUX_POINTS = 10_000  # FLUX tabulates its sigmas finer than SD3 (ComfyUI's 10000 points)


def model_sampling_discrete(
    ctx: NodeContext, model: ModelHandle, sampling: str, zsnr: bool
) -> tuple[ModelHandle]:
    if sampling in UNSUPPORTED_SAMPLINGS:
        raise ValueError(f"sampling {sampling!r} is not supported here ({UNSUPPORTED_SAMPLINGS[sampling]}).")
    if sampling not in DISCRETE_PREDICTIONS:
        raise ValueError(f"sampling must be one of {', '.join(DISCRETE_PREDICTIONS)}, got {sampling!r}.")
    ms = ModelSampling.discrete(model.scheduler_config, DISCRETE_PREDICTIONS[sampling], zsnr=bool(zsnr))
    return (dataclasses.replace(model, model_sampling=ms),)


def _flow(model: ModelHandle, *, shift: float, flux: bool, multiplier: float, points: int) -> ModelHandle:
    base = model.model_sampling
    if base is not None and base.prediction == "flow":
        multiplier = base.multiplier
    ms = ModelSampling(
        prediction="flow", shift=float(shift), multiplier=multiplier, flux_shift=flux, flow_points=points
    )
    return dataclasses.replace(model, model_sampling=ms)


def model_sampling_sd3(ctx: NodeContext, model: ModelHandle, shift: float) -> tuple[ModelHandle]:
    return (_flow(model, shift=shift, flux=False, multiplier=1000.0, points=1000),)


def model_sampling_aura_flow(ctx: NodeContext, model: ModelHandle, shift: float) -> tuple[ModelHandle]:
    return (_flow(model, shift=shift, flux=False, multiplier=1.0, points=1000),)


def flux_mu(max_shift: float, base_shift: float, width: int, height: int) -> float:
    slope = (max_shift - base_shift) / (FLUX_MAX_PATCHES - FLUX_BASE_PATCHES)
    patches = width * height / (8 * 8 * 2 * 2)  # pixels -> latent cells -> 2x2 patches
    return patches * slope + (base_shift - slope * FLUX_BASE_PATCHES)


def model_sampling_flux(
    ctx: NodeContext, model: ModelHandle, max_shift: float, base_shift: float, width: int, height: int
) -> tuple[ModelHandle]:
    mu = flux_mu(float(max_shift), float(base_shift), int(width), int(height))
    return (_flow(model, shift=mu, flux=True, multiplier=1.0, points=FLUX_POINTS),)
