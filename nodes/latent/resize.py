"""Resizing latents: torch's interpolation modes plus ComfyUI's "bislerp".

Latent channels are not colours: blending two latent vectors linearly shrinks their
length, which reads as lost detail. "bislerp" interpolates each pixel's channel
vector on the sphere (slerp of directions, lerp of lengths) instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LATENT_UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
CROP_METHODS = ("disabled", "center")


def resize_latent(samples: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    """[B, C, h, w] -> [B, C, height, width]. `crop="center"` first trims the source to the new aspect."""
    if method not in LATENT_UPSCALE_METHODS:
        raise ValueError(f"upscale_method {method!r} is not one of {', '.join(LATENT_UPSCALE_METHODS)}.")
    if crop not in CROP_METHODS:
        raise ValueError(f"crop {crop!r} is not one of {', '.join(CROP_METHODS)}.")
    if crop == "center":
        samples = _center_crop_to_aspect(samples, width / height)
    if method == "bislerp":
        return _bislerp(samples.float(), width, height).to(samples.dtype)
    if method in ("bilinear", "bicubic"):
        return F.interpolate(samples, size=(height, width), mode=method, align_corners=False)
    return F.interpolate(samples, size=(height, width), mode=method)


def _center_crop_to_aspect(samples: torch.Tensor, aspect: float) -> torch.Tensor:
    height, width = samples.shape[-2:]
    if width / height > aspect:  # too wide: trim left and right
        margin = round((width - height * aspect) / 2)
        return samples[..., :, margin : width - margin]
    if width / height < aspect:  # too tall: trim top and bottom
        margin = round((height - width / aspect) / 2)
        return samples[..., margin : height - margin, :]
    return samples


def _bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    # Separable, like bilinear: first along the width, then along the height.
    return _slerp_along(_slerp_along(samples, width, dim=3), height, dim=2)


def _slerp_along(samples: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    old = samples.shape[dim]
    # Output pixel centres in input coordinates (half-pixel convention, as bilinear interpolation).
    position = (torch.arange(size, dtype=torch.float32) + 0.5) * (old / size) - 0.5
    position = position.clamp(0, old - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=old - 1)
    shape = [1, 1, 1, 1]
    shape[dim] = size
    ratio = (position - low).reshape(shape).to(samples.device)
    return _slerp(
        samples.index_select(dim, low.to(samples.device)),
        samples.index_select(dim, high.to(samples.device)),
        ratio,
    )


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the channel vectors (dim 1) of `a` and `b` by `t`."""
    norm_a = a.norm(dim=1, keepdim=True)
    norm_b = b.norm(dim=1, keepdim=True)
    unit_a = a / norm_a.clamp_min(1e-12)
    unit_b = b / norm_b.clamp_min(1e-12)
    dot = (unit_a * unit_b).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    direction = (torch.sin((1.0 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / sin_omega.clamp_min(
        1e-12
    )
    result = direction * (norm_a * (1.0 - t) + norm_b * t)
    # Parallel or opposite vectors (or a zero vector) have no unique great circle: lerp is the limit.
    degenerate = (1.0 - dot.abs() < 1e-5) | (norm_a < 1e-12) | (norm_b < 1e-12)
    return torch.where(degenerate, a * (1.0 - t) + b * t, result)
