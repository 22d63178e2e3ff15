"""One network call per model family: (model, x_in, timestep, context, kwargs) -> raw output.

guidance.py builds the text context and per-entry kwargs and calls the model's family here, so a
new family (FLUX, SD3, video models) adds its call without touching the guidance code. The output
is the network's raw prediction (noise, v or velocity, per the handle's model_sampling), float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

FamilyCall = Callable[[Any, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]


def unet_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    """SD 1.x/2.x/SDXL: diffusers' UNet2DConditionModel."""
    unet = model.unet
    return unet(x.to(unet.dtype), t, encoder_hidden_states=context, **kwargs).sample.float()


def _flux_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    from nodes.flux.call import flux_call

    return flux_call(model, x, t, context, kwargs)


def _svd_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    from nodes.svd.call import svd_call

    return svd_call(model, x, t, context, kwargs)


def _sd3_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    from nodes.sd3.call import sd3_call

    return sd3_call(model, x, t, context, kwargs)


def _wan_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    from nodes.wan.call import wan_call

    return wan_call(model, x, t, context, kwargs)


def _ltxv_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    from nodes.ltxv.call import ltxv_call

    return ltxv_call(model, x, t, context, kwargs)


# family -> call; families not listed use the UNet call.
FAMILY_CALLS: dict[str, FamilyCall] = {
    "flux": _flux_call,
    "svd": _svd_call,
    "sd3": _sd3_call,
    "wan": _wan_call,
    "ltxv": _ltxv_call,
}


def family_call(family: str) -> FamilyCall:
    return FAMILY_CALLS.get(family, unet_call)
