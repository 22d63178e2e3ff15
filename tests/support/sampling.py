"""KSampler and KSamplerAdvanced called as nodes on the unit tests' tiny checkpoint and prompts.

Each test module binds its own seed, steps and sampler with functools.partial; a call's keywords
override those.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nodes.sampling.names import IMPLEMENTED_SAMPLERS

# KSamplerAdvanced's inputs that tests rarely change (ComfyUI's defaults but for cfg).
ADVANCED_DEFAULTS: dict[str, Any] = {
    "add_noise": "enable",
    "cfg": 7.5,
    "start_at_step": 0,
    "end_at_step": 10000,
    "return_with_leftover_noise": "disable",
}


def ksampler(
    checkpoint: Any, prompts: tuple[Any, Any], latent: dict[str, Any], **inputs: Any
) -> torch.Tensor:
    from nodes.diffusion import ops as diffusion
    from tests.unit.test_latent_ops import CTX

    (out,) = diffusion.ksampler(
        CTX, checkpoint.model, positive=prompts[0], negative=prompts[1], latent_image=latent, **inputs
    )
    return out["samples"]


def advanced(
    checkpoint: Any, prompts: tuple[Any, Any], latent: dict[str, Any], **inputs: Any
) -> torch.Tensor:
    from nodes.diffusion import ops as diffusion
    from tests.unit.test_latent_ops import CTX

    (out,) = diffusion.ksampler_advanced(
        CTX,
        checkpoint.model,
        positive=prompts[0],
        negative=prompts[1],
        latent_image=latent,
        **{**ADVANCED_DEFAULTS, **inputs},
    )
    return out["samples"]


def needs_samplers(*names: str) -> pytest.MarkDecorator:
    """Skip until every named sampler is implemented (in nodes/sampling/names.py); runs from then on."""
    missing = [name for name in names if name not in IMPLEMENTED_SAMPLERS]
    return pytest.mark.skipif(
        bool(missing), reason=f"sampler not implemented yet: {', '.join(missing)} (nodes/sampling/names.py)"
    )


def sampler_params(*names: str) -> list[Any]:
    """Parametrize values, one per sampler name, each skipped until that sampler is implemented."""
    return [pytest.param(name, marks=needs_samplers(name)) for name in names]


def exported_sdxl_turbo(graph: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI's SDXL Turbo export (comfyui_workflows/sdxl_turbo.json) as it can run today: posted
    unchanged once euler_ancestral is implemented, with its KSamplerSelect on euler until then."""
    if "euler_ancestral" not in IMPLEMENTED_SAMPLERS:
        graph["14"]["inputs"]["sampler_name"] = "euler"
    return graph
