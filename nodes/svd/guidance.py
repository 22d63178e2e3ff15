"""VideoLinearCFGGuidance and VideoTriangleCFGGuidance: classifier-free guidance scaled per frame.

Both patch the MODEL so that its guidance combines the clean-latent predictions of the F frames
(the rows of the batch) with a scale that varies over the frames, from `min_cfg` to the sampler's cfg:
linear ramps up from the first frame to the last; triangle rises to cfg at the middle frame and
falls back to min_cfg at the last (a triangle wave of period 1 over the frames' positions in [0, 1]).
Far frames drift from the init image, so they get more guidance. Guidance stays linear in the
predictions, so guiding x0 equals ComfyUI's guiding of the noise. The patch also makes cfg 1 compute
both sides, as ComfyUI's does (disable_cfg1_optimization).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import ModelHandle

Shape = Literal["linear", "triangle"]


def frame_scales(shape: Shape, min_cfg: float, cfg: float, frames: int) -> torch.Tensor:
    """The guidance scale of each of `frames` frames, float32 [frames]."""
    if shape == "linear":
        return torch.linspace(min_cfg, cfg, frames)
    position = torch.linspace(0, 1, frames)
    wave = 2.0 * (position - torch.floor(position + 0.5)).abs()  # 0 at the ends, 1 at the middle
    return wave * (cfg - min_cfg) + min_cfg


@dataclass(frozen=True)
class FrameCFG:
    """A MODEL's cfg_function (nodes/sampling/guiders.py): guided = uncond + scale_f * (cond - uncond)."""

    shape: Shape
    min_cfg: float

    def __call__(self, *, cond: torch.Tensor, uncond: torch.Tensor, cfg: float) -> torch.Tensor:
        scales = frame_scales(self.shape, self.min_cfg, cfg, cond.shape[0]).to(cond.device, cond.dtype)
        return uncond + scales.reshape(-1, *([1] * (cond.dim() - 1))) * (cond - uncond)


def _patched(model: ModelHandle, shape: Shape, min_cfg: float) -> tuple[ModelHandle]:
    # A new handle over the same cached UNet: the cached model stays unpatched.
    return (dataclasses.replace(model, cfg_function=FrameCFG(shape, float(min_cfg))),)


def video_linear_cfg_guidance(ctx: NodeContext, model: ModelHandle, min_cfg: float) -> tuple[ModelHandle]:
    return _patched(model, "linear", min_cfg)


def video_triangle_cfg_guidance(ctx: NodeContext, model: ModelHandle, min_cfg: float) -> tuple[ModelHandle]:
    return _patched(model, "triangle", min_cfg)
