"""One denoising step's noise prediction from ComfyUI conditionings, with classifier-free guidance.

A CONDITIONING is a list of entries ``[embeddings, extras]``. Each entry is
predicted over its own region of the latent and the predictions are averaged,
weighted per cell, as ComfyUI does:

- ``extras["area"] = (height, width, y, x)`` in latent cells (pixels // 8)
  limits an entry to a rectangle (ConditioningSetArea); inner edges of the
  rectangle fade in over up to 8 cells so regions blend;
- ``extras["area"] = ("percentage", height, width, y, x)`` gives it in
  fractions of the latent (ConditioningSetAreaPercentage);
- ``extras["strength"]`` scales the entry's weight;
- ``extras["mask"]`` (pixel-space MASK) weights it per cell, times
  ``extras["mask_strength"]``; ``extras["set_area_to_bounds"]`` shrinks the
  region to the mask's bounding box first (ConditioningSetMask);
- ``extras["control"]`` is an object (ControlNet) whose
  ``residuals(x=, t=, context=, dtype=, unet_kwargs=, groups=)`` returns extra
  UNet kwargs (``down_block_additional_residuals``,
  ``mid_block_additional_residual``) for the latent crop `x` at timestep `t`,
  or ``{}`` when it is inactive at that step;
- ``extras["start_percent"]``/``["end_percent"]`` limit the entry to that part
  of sampling (ConditioningSetTimestepRange): an entry is active while the
  current sigma lies between the model's ``percent_to_sigma`` of the two, as
  ComfyUI maps percents onto the model's noise schedule (discrete or flow).

For sampling (nodes/sampling/denoiser.py) each entry's network output is
turned into its clean-latent prediction (x0) with the model's ModelSampling
before the average, as ComfyUI averages: cells that no entry covers predict a
zero latent. Without the latent (`predict_noise`, a probe for tests) the raw
outputs are averaged and uncovered cells get a zero raw output.
The common case, one full-size entry per side, runs all sides as one batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from nodes.diffusion.family_calls import family_call
from nodes.diffusion.unet_inputs import unet_kwargs
from nodes.sampling.model_sampling import ModelSampling, model_sampling_of

Conditioning = list[list[Any]]
FEATHER_CELLS = 8


@dataclass(frozen=True)
class Region:
    """Where one conditioning entry applies, in latent cells, and its per-cell weight there."""

    top: int
    left: int
    height: int
    width: int
    weight: torch.Tensor  # (1 or batch, 1, height, width)
    whole: bool = False  # the full latent with one constant weight

    def crop(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor[:, :, self.top : self.top + self.height, self.left : self.left + self.width]


@dataclass(frozen=True)
class Entry:
    embeddings: torch.Tensor
    extras: dict[str, Any]
    region: Region
    # ConditioningSetTimestepRange's part of sampling; None: all of it.
    start_percent: float | None = None
    end_percent: float | None = None
    # The entry's extra UNet inputs on the device, built on the first step and reused by the others.
    _unet_inputs: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict, repr=False)

    def active(self, sigma: torch.Tensor, model_sampling: ModelSampling) -> bool:
        if self.start_percent is None:
            return True
        first = model_sampling.percent_to_sigma(self.start_percent)
        last = model_sampling.percent_to_sigma(self.end_percent if self.end_percent is not None else 1.0)
        return last <= float(sigma) <= first

    def unet_inputs(
        self, model: Any, *, rows: int, latent_hw: tuple[int, ...], device: torch.device
    ) -> dict[str, Any]:
        key = (rows, tuple(latent_hw), str(device))
        if key not in self._unet_inputs:
            built = unet_kwargs(model, self.extras, batch=rows, latent_hw=latent_hw)
            self._unet_inputs[key] = _to_device(built, device)
        return self._unet_inputs[key]


def prepare(conditioning: Conditioning, latent_shape: torch.Size, device: str, name: str) -> list[Entry]:
    """Resolve each entry's region and weight once per sampling run (not per step)."""
    if not conditioning:
        raise ValueError(f"Conditioning {name!r} is empty.")
    entries = []
    for embeddings, extras in conditioning:
        # Which side an entry is on, for inputs whose default differs by side (the refiner's score).
        extras = {"prompt_type": name, **extras}
        region = _region(extras, latent_shape, device)
        start = end = None
        if "start_percent" in extras or "end_percent" in extras:
            start, end = float(extras.get("start_percent", 0.0)), float(extras.get("end_percent", 1.0))
        entries.append(Entry(embeddings, extras, region, start, end))
    return entries


def with_uncond_controls(positive: Conditioning, negative: Conditioning) -> Conditioning:
    """The negative side with the controls that ControlNetApply meant for it too (ComfyUI's rule).

    ControlNetApply marks its entries ``control_apply_to_uncond``. When no negative entry has a
    control of its own, those controls (of positive entries without an area) go to the negative
    entries without an area, in turn, so both sides are steered by the same hint.
    """
    controls = [
        extras["control"]
        for _, extras in positive
        if extras.get("control_apply_to_uncond")
        and extras.get("control") is not None
        and "area" not in extras
    ]
    if not controls or any(extras.get("control") is not None for _, extras in negative):
        return negative
    free = [index for index, (_, extras) in enumerate(negative) if "area" not in extras]
    if not free:
        return negative
    out = [list(entry) for entry in negative]
    for n, control in enumerate(controls):
        index = free[n % len(free)]
        out[index] = [out[index][0], {**out[index][1], "control": control}]
    return out


def predict_outputs(
    model: Any,
    x_in: torch.Tensor,
    t: torch.Tensor,
    sides: list[list[Entry]],
    *,
    sigma: torch.Tensor,
    model_sampling: ModelSampling,
    x: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Each side's prediction for the model input `x_in` at timestep `t` (noise level `sigma`), float32;
    entries outside their part of sampling are left out.

    Without `x`: the network's raw output. With `x` (the latent `x_in` was made from): each entry's
    output is turned into its clean-latent prediction before the per-cell average, as ComfyUI averages,
    so cells no entry covers predict a zero latent."""
    active = [[entry for entry in side if entry.active(sigma, model_sampling)] for side in sides]
    step = _Step(t, sigma, model_sampling, x)
    if len(active) > 1 and _batchable(active):
        stacked = _call_unet(model, torch.cat([x_in] * len(active)), step, [side[0] for side in active])
        return [step.output(chunk, x) for chunk in stacked.chunk(len(active))]
    return [_side(model, x_in, step, side) for side in active]


def predict_noise(
    model: Any,
    x_in: torch.Tensor,
    t: torch.Tensor,
    positive: list[Entry],
    negative: list[Entry],
    cfg: float,
) -> torch.Tensor:
    """Classifier-free guidance on the raw outputs at timestep `t` (a probe for tests of regions and
    controls; sampling guides the clean-latent predictions, nodes/sampling/denoiser.py)."""
    ms = model_sampling_of(model)
    sigma = ms.sigma(torch.as_tensor(t, dtype=torch.float32))
    if math.isclose(cfg, 1.0):
        return predict_outputs(model, x_in, t, [positive], sigma=sigma, model_sampling=ms)[0]
    uncond, cond = predict_outputs(model, x_in, t, [negative, positive], sigma=sigma, model_sampling=ms)
    return uncond + cfg * (cond - uncond)


@dataclass(frozen=True)
class _Step:
    """Where sampling is: the network's timestep, the noise level, and how the two relate."""

    t: torch.Tensor
    sigma: torch.Tensor
    model_sampling: ModelSampling
    x: torch.Tensor | None = None  # set: predictions are clean latents

    def output(self, raw: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
        return raw if x is None else self.model_sampling.denoised(self.sigma, raw, x)


def _side(model: Any, x_in: torch.Tensor, step: _Step, entries: list[Entry]) -> torch.Tensor:
    if len(entries) == 1 and entries[0].region.whole:
        # One entry over everything: the weighted average is the prediction itself, whatever its strength.
        return step.output(_call_unet(model, x_in, step, entries), step.x)
    total = torch.zeros_like(x_in, dtype=torch.float32)
    count = torch.full_like(total, 1e-37)
    for entry in entries:
        region = entry.region
        raw = _call_unet(model, region.crop(x_in), step, [entry], latent_hw=tuple(x_in.shape[-2:]))
        pred = step.output(raw, None if step.x is None else region.crop(step.x))
        region.crop(total).add_(pred * region.weight)
        region.crop(count).add_(region.weight.expand_as(pred))
    return total / count


def _call_unet(
    model: Any,
    x: torch.Tensor,
    step: _Step,
    entries: list[Entry],
    latent_hw: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """One UNet call; with two entries, x holds their rows stacked (entry 0 first)."""
    unet = model.unet
    rows = x.shape[0] // len(entries)
    # SDXL's default size inputs describe the whole image, also for an entry cropped to an area.
    latent_hw = latent_hw or (x.shape[-2], x.shape[-1])
    contexts = _match_lengths([entry.embeddings for entry in entries])
    context = torch.cat([c.expand(rows, -1, -1) if c.shape[0] == 1 else c for c in contexts])
    context = context.to(x.device, unet.dtype)
    kwargs = _cat_kwargs(
        [entry.unet_inputs(model, rows=rows, latent_hw=latent_hw, device=x.device) for entry in entries]
    )
    control = entries[0].extras.get("control")
    if control is not None:
        # groups: x holds one copy of the latent batch per entry, so each restarts the hint batch.
        residuals = control.residuals(
            x=x,
            t=step.t,
            context=context,
            dtype=unet.dtype,
            unet_kwargs=kwargs,
            groups=len(entries),
            sigma=step.sigma,
            model_sampling=step.model_sampling,
        )
        kwargs.update(residuals)
    return family_call(model.family)(model, x, step.t, context, kwargs)


# Prompts of other lengths share one call only if repeating each to the common length costs at most
# this many times the shorter one (ComfyUI's limit): 274 and 154 tokens would make 21,098.
MAX_LENGTH_REPEAT = 4


def _batchable(sides: list[list[Entry]]) -> bool:
    """One call for all sides: each is one entry over the whole latent, all with the same control, and
    prompt lengths that repeat to a common one cheaply."""
    if any(len(side) != 1 or not side[0].region.whole for side in sides):
        return False
    lengths = [side[0].embeddings.shape[1] for side in sides]
    if math.lcm(*lengths) // min(lengths) > MAX_LENGTH_REPEAT:
        return False
    control = sides[0][0].extras.get("control")
    return all(side[0].extras.get("control") is control for side in sides)


def _region(extras: dict[str, Any], latent_shape: torch.Size, device: str) -> Region:
    # A video latent (B, C, T, H, W) has its areas in the last two dimensions too.
    batch, height, width = latent_shape[0], latent_shape[-2], latent_shape[-1]
    top, left, h, w = 0, 0, height, width
    area = extras.get("area")
    if area is not None and area[0] == "percentage":
        _, fh, fw, fy, fx = area
        area = (max(1, round(fh * height)), max(1, round(fw * width)), round(fy * height), round(fx * width))
    if area is not None:
        ah, aw, ay, ax = (int(v) for v in area)
        top, left = min(ay, height - 1), min(ax, width - 1)
        h, w = max(1, min(ah, height - top)), max(1, min(aw, width - left))
    strength = float(extras.get("strength", 1.0))
    mask = extras.get("mask")
    if mask is None:
        weight = torch.full((1, 1, h, w), strength, device=device)
        if (h, w) == (height, width):
            return Region(0, 0, height, width, weight[:, :, :1, :1], whole=True)
    else:
        cells = _mask_cells(mask, batch, (height, width), device)
        if extras.get("set_area_to_bounds"):
            top, left, h, w = _bounds(cells, (top, left, h, w))
        cells = cells[:, :, top : top + h, left : left + w]
        weight = cells * float(extras.get("mask_strength", 1.0)) * strength
    _feather(weight, top, left, h, w, (height, width))
    return Region(top, left, h, w, weight)


def _mask_cells(mask: torch.Tensor, batch: int, size: tuple[int, int], device: str) -> torch.Tensor:
    mask = mask.float()
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    cells = F.interpolate(mask.unsqueeze(1).to(device), size=size, mode="bilinear", align_corners=False)
    if cells.shape[0] not in (1, batch):
        cells = cells[torch.arange(batch) % cells.shape[0]]
    return cells


def _bounds(cells: torch.Tensor, fallback: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The bounding box of the mask's non-zero cells over the whole batch (ComfyUI's 'mask bounds')."""
    ys, xs = torch.nonzero(cells.amax(dim=(0, 1)) > 0, as_tuple=True)
    if ys.numel() == 0:
        return fallback
    top, left = int(ys.min()), int(xs.min())
    return top, left, int(ys.max()) - top + 1, int(xs.max()) - left + 1


def _feather(weight: torch.Tensor, top: int, left: int, h: int, w: int, size: tuple[int, int]) -> None:
    """Fade the weight in over the region's inner edges so neighbouring regions blend."""
    height, width = size
    ramp_h, ramp_w = min(FEATHER_CELLS, h), min(FEATHER_CELLS, w)
    for i in range(ramp_h):
        factor = (i + 1) / FEATHER_CELLS
        if top > 0:
            weight[:, :, i, :] *= factor
        if top + h < height:
            weight[:, :, h - 1 - i, :] *= factor
    for i in range(ramp_w):
        factor = (i + 1) / FEATHER_CELLS
        if left > 0:
            weight[:, :, :, i] *= factor
        if left + w < width:
            weight[:, :, :, w - 1 - i] *= factor


def _match_lengths(contexts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Repeat shorter prompts' 77-token chunks so all have the same token count (ComfyUI's rule)."""
    lengths = {c.shape[1] for c in contexts}
    if len(lengths) == 1:
        return contexts
    target = math.lcm(*lengths)
    return [c.repeat(1, target // c.shape[1], 1) for c in contexts]


def _cat_kwargs(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack per-entry UNet kwargs row-wise (nested dicts of tensors, as diffusers takes them); a new
    top-level dict, so the caller may add to it."""
    if len(parts) == 1 or not parts[0]:
        return dict(parts[0])
    out: dict[str, Any] = {}
    for key, value in parts[0].items():
        values = [part[key] for part in parts]
        out[key] = _cat_kwargs(values) if isinstance(value, dict) else torch.cat(values)
    return out


def _to_device(kwargs: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        key: _to_device(value, device) if isinstance(value, dict) else value.to(device)
        for key, value in kwargs.items()
    }
