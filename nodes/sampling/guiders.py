"""GUIDER values: a model, its named conditionings and how their predictions combine (ComfyUI's guiders).

A Guider is the value on a GUIDER link (BasicGuider, CFGGuider, DualCFGGuider) and what KSampler
builds for itself. `combine` works on clean-latent predictions (x0), one per conditioning, as
ComfyUI guides: classifier-free guidance (Ho & Salimans 2022) is linear, so guiding x0 or the noise
gives the same step for eps models, and x0 is what every prediction type has in common.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from nodes.sampling.model_sampling import ModelSampling, model_sampling_of

Conditioning = list[list[Any]]
GuiderKind = Literal["basic", "cfg", "dual"]


@dataclass(frozen=True, eq=False)
class Guider:
    model: Any  # ModelHandle
    # name -> CONDITIONING: "positive" (all kinds), "negative" (cfg, dual), "middle" (dual: cond2)
    conds: dict[str, Conditioning]
    kind: GuiderKind = "cfg"
    cfg: float = 1.0  # cfg (CFGGuider), cfg_conds (DualCFGGuider)
    cfg2: float = 1.0  # DualCFGGuider's cfg_cond2_negative
    style: str = "regular"  # DualCFGGuider: "regular" or "nested"

    @property
    def model_sampling(self) -> ModelSampling:
        return model_sampling_of(self.model)

    def needed(self, *, uncond: bool = False) -> tuple[str, ...]:
        """The conditionings to predict at each step; a guidance scale of 1 skips its unconditional
        side (ComfyUI's cfg-1 shortcut: the result is the same, one network pass cheaper) unless
        `uncond`: the CFG++ samplers re-noise with it, so ComfyUI computes it for them at cfg 1 too."""
        if self.kind == "basic":
            return ("positive",)
        if self.kind == "cfg":
            # A cfg_function patch scales per frame, so cfg 1 is not a shortcut there (ComfyUI's
            # disable_cfg1_optimization).
            patched = getattr(self.model, "cfg_function", None) is not None
            skip = math.isclose(self.cfg, 1.0) and not uncond and not patched
            return ("positive",) if skip else ("negative", "positive")
        if uncond or self.style == "nested" or not math.isclose(self.cfg2, 1.0):
            return ("negative", "middle", "positive")
        return ("middle", "positive") if not math.isclose(self.cfg, 1.0) else ("positive",)

    def combine(self, x0: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(guided x0, the unconditional x0 for CFG++ samplers) from each needed side's x0."""
        positive = x0["positive"]
        if self.kind == "basic":
            return positive, positive
        if self.kind == "cfg":
            if "negative" not in x0:
                return positive, positive
            uncond = x0["negative"]
            cfg_function = getattr(self.model, "cfg_function", None)
            if cfg_function is not None:
                return cfg_function(cond=positive, uncond=uncond, cfg=self.cfg), uncond
            return uncond + (positive - uncond) * self.cfg, uncond
        return self._dual(x0)

    def _dual(self, x0: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """DualCFGGuider. regular: negative + cfg2 * (middle - negative) + cfg * (positive - middle);
        nested: CFG of positive over middle at cfg, then of that over negative at cfg2."""
        positive = x0["positive"]
        middle = x0.get("middle", positive)
        negative = x0.get("negative", middle)
        if self.style == "nested":
            text = middle + (positive - middle) * self.cfg
            return negative + (text - negative) * self.cfg2, negative
        return negative + (middle - negative) * self.cfg2 + (positive - middle) * self.cfg, negative
