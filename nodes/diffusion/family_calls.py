"""One network call per model family: (model, x_in, timestep, context, kwargs) -> raw output.

guidance.py builds the text context and per-entry kwargs and calls the model's family here, so a
new family (FLUX, SD3, video models) adds its call without touching the guidance code. The output
is the network's raw prediction (noise, v or velocity, per the handle's model_sampling), float32.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, cast

import torch

FamilyCall = Callable[[Any, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]


def unet_call(
    model: Any, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, kwargs: dict[str, Any]
) -> torch.Tensor:
    """SD 1.x/2.x/SDXL: diffusers' UNet2DConditionModel."""
    unet = model.unet
    return unet(x.to(unet.dtype), t, encoder_hidden_states=context, **kwargs).sample.float()


# family -> the module whose `<family>_call` runs it, imported on first use (it imports the family's
# diffusers classes); families not listed use the UNet call.
FAMILY_CALL_MODULES: dict[str, str] = {
    "flux": "nodes.flux.call",
    "svd": "nodes.svd.call",
    "sd3": "nodes.sd3.call",
    "wan": "nodes.wan.call",
    "ltxv": "nodes.ltxv.call",
}


def family_call(family: str) -> FamilyCall:
    module = FAMILY_CALL_MODULES.get(family)
    if module is None:
        return unet_call
    return cast(FamilyCall, getattr(importlib.import_module(module), f"{family}_call"))
