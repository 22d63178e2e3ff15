"""The values that flow along CONTROL_NET links and the control a conditioning entry carries.

``ControlNetHandle`` is what ControlNetLoader returns: the cached diffusers
``ControlNetModel``. ``Control`` is what the apply nodes put in a conditioning
entry's ``extras["control"]``: the model, its hint image, strength and active
part of sampling, plus the control applied before it (``previous``), so that
chained ControlNets add up. guidance.py calls ``Control.residuals`` once per
UNet call and passes the result to the UNet as extra keyword arguments.

A ``Control`` is immutable and compared by identity: guidance batches the
positive and negative rows into one UNet call only when both entries carry the
very same control object (as ControlNetApplyAdvanced makes them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from nodes.sampling.model_sampling import ModelSampling

# ControlNets here steer SD 1.x/2.x/XL, whose training schedules share this one's timesteps.
_SD_SAMPLING = ModelSampling.discrete({})
# The hint is in pixels; the latent is this many times smaller per side (the VAE's downscale).
PIXELS_PER_CELL = 8


@dataclass(frozen=True, eq=False)
class ControlNetHandle:
    """A loaded ControlNet (the CONTROL_NET value); the model cache owns the module."""

    model: Any  # diffusers.ControlNetModel, on the worker's device, in eval mode
    name: str


@dataclass(frozen=True, eq=False)
class Control:
    """One applied ControlNet: `hint` is ComfyUI's IMAGE moved to [B, C, H, W], values 0..1."""

    model: Any
    hint: torch.Tensor
    strength: float
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: Control | None = None
    name: str = "ControlNet"  # the file it came from, for messages
    # Fitted hints by input shape; lives as long as the conditioning (one execution: results that
    # hold a ControlNet are never kept in the node result cache).
    _fitted: dict[tuple[Any, ...], torch.Tensor] = field(default_factory=dict, repr=False)

    def _fitted_hint(self, x: torch.Tensor, groups: int, dtype: torch.dtype) -> torch.Tensor:
        """The hint resized to `x`'s pixels, one row per row of `x`, on its device: built once per shape
        and reused for every step (the resize runs on the CPU)."""
        key = (tuple(x.shape), groups, str(x.device), dtype)
        if key not in self._fitted:
            hint = fit_hint(self.hint, (x.shape[-2] * PIXELS_PER_CELL, x.shape[-1] * PIXELS_PER_CELL))
            self._fitted[key] = hint[hint_rows(hint.shape[0], x.shape[0], groups)].to(x.device, dtype)
        return self._fitted[key]

    def active(self, sigma: torch.Tensor | float, model_sampling: ModelSampling) -> bool:
        """Whether noise level `sigma` lies in this control's part of sampling: between the model's
        percent_to_sigma of its start and end, the mapping guidance.py uses for timestep ranges."""
        first = model_sampling.percent_to_sigma(self.start_percent)
        final = model_sampling.percent_to_sigma(self.end_percent)
        return final <= float(sigma) <= first

    def residuals(
        self,
        *,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        dtype: torch.dtype,
        unet_kwargs: dict[str, Any] | None = None,
        groups: int = 1,
        sigma: torch.Tensor | float | None = None,
        model_sampling: ModelSampling | None = None,
    ) -> dict[str, Any]:
        """The UNet's extra residuals for the (scaled) latent input `x` at timestep `t`, or {} if inactive
        at noise level `sigma` (None: the sigma of `t` on `model_sampling`, by default SD's schedule).

        `x` holds `groups` stacked copies of the latent batch (negative and positive rows when guidance
        batches both sides). The hint is fitted to `x` itself: when the entry has an area, ComfyUI
        squeezes the whole hint into that area (it does not crop it), and so do we.
        """
        earlier = (
            self.previous.residuals(
                x=x,
                t=t,
                context=context,
                dtype=dtype,
                unet_kwargs=unet_kwargs,
                groups=groups,
                sigma=sigma,
                model_sampling=model_sampling,
            )
            if self.previous is not None
            else {}
        )
        model_sampling = model_sampling or _SD_SAMPLING
        if sigma is None:
            sigma = model_sampling.sigma(torch.as_tensor(t, dtype=torch.float32))
        if not self.active(sigma, model_sampling):
            return earlier
        model = self.model
        width = int(model.config.cross_attention_dim)
        if context.shape[-1] != width:
            raise ValueError(
                f"ControlNet {self.name!r} takes text embeddings of width {width}, but the prompt has "
                f"{context.shape[-1]}: it was made for another model family than the checkpoint's."
            )
        hint = self._fitted_hint(x, groups, model.dtype)
        extra = {k: v for k, v in (unet_kwargs or {}).items() if k == "added_cond_kwargs"}  # SDXL's inputs
        down, mid = model(
            x.to(model.dtype),
            t,
            encoder_hidden_states=context.to(x.device, model.dtype),
            controlnet_cond=hint,
            conditioning_scale=float(self.strength),
            return_dict=False,
            **extra,
        )
        mine = {
            "down_block_additional_residuals": tuple(r.to(dtype) for r in down),
            "mid_block_additional_residual": mid.to(dtype),
        }
        return add_residuals(earlier, mine)


def add_residuals(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum two residual dicts (either may be empty), as chained ControlNets add their outputs."""
    if not a or not b:
        return a or b
    down_a, down_b = a["down_block_additional_residuals"], b["down_block_additional_residuals"]
    if len(down_a) != len(down_b):
        raise ValueError(
            f"Chained ControlNets do not fit together: one has {len(down_a)} residuals, the other "
            f"{len(down_b)} (ControlNets made for different base models?)."
        )
    return {
        "down_block_additional_residuals": tuple(p + q for p, q in zip(down_a, down_b, strict=True)),
        "mid_block_additional_residual": a["mid_block_additional_residual"]
        + b["mid_block_additional_residual"],
    }


def fit_hint(hint: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize [B, C, H, W] to `size` (height, width) as ComfyUI does for hints: crop the centre to the
    target's aspect ratio, then nearest-exact resampling (keeps edge and pose maps crisp)."""
    height, width = hint.shape[-2:]
    target_h, target_w = size
    if (height, width) == (target_h, target_w):
        return hint
    if width * target_h > target_w * height:  # wider than the target: trim left and right
        keep = round(height * target_w / target_h)
        left = (width - keep) // 2
        hint = hint[..., :, left : left + keep]
    elif width * target_h < target_w * height:  # taller: trim top and bottom
        keep = round(width * target_h / target_w)
        top = (height - keep) // 2
        hint = hint[..., top : top + keep, :]
    return F.interpolate(hint.float(), size=size, mode="nearest-exact")


def hint_rows(hints: int, rows: int, groups: int = 1) -> torch.Tensor:
    """Which hint image each of `rows` latent rows gets: each group (negative, positive) of rows
    restarts at hint 0 and cycles through the hints, as ComfyUI broadcasts a hint batch."""
    per_group = max(1, rows // max(1, groups))
    return torch.arange(rows) % per_group % hints
