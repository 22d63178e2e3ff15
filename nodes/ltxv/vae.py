"""LTX-Video's video VAE: diffusers' AutoencoderKLLTXVideo from the checkpoint's ``vae.*`` (0.9.5 layout).

F frames (F = 8k + 1) become 1 + (F - 1) // 8 latent frames of 128 channels at 1/32 the size. Latents
are normalised per channel with the file's statistics ((raw - mean) / std, ComfyUI's LTXV latent format);
the handle applies it both ways, so LATENTs between nodes are in the model's space. The 0.9.5 decoder is
timestep-conditioned: it decodes at ComfyUI's default decode timestep 0.05, without the decode noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodes.diffusion.handles import VaeHandle
from nodes.loaders.weights import module_from_state
from nodes.ltxv.layout import vae_to_diffusers

DECODE_TIMESTEP = 0.05
TEMPORAL = 8


@dataclass(frozen=True)
class LtxvVaeHandle(VaeHandle):
    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1, 1)
        mean = self.vae.latents_mean.to(like.device, like.dtype).view(shape)
        std = self.vae.latents_std.to(like.device, like.dtype).view(shape)
        return mean, std

    @torch.inference_mode()
    def encode_frames(self, pixels: torch.Tensor, device: str) -> torch.Tensor:
        """(F, H, W, C) IMAGE frames -> (1, 128, 1 + (F - 1) // 8, H/32, W/32), normalised, CPU float32."""
        x = pixels[..., :3].permute(3, 0, 1, 2).unsqueeze(0).to(device, self.vae.dtype) * 2.0 - 1.0
        raw = self.vae.encode(x).latent_dist.mode()  # the posterior's mode: deterministic, as ComfyUI
        mean, std = self._stats(raw)
        return ((raw - mean) / std).float().cpu()

    @torch.inference_mode()
    def decode_frames(self, latents: torch.Tensor, device: str) -> torch.Tensor:
        """(B, 128, T, h, w) -> (B * (1 + (T - 1) * 8), 32h, 32w, 3) IMAGE frames in [0, 1]."""
        if latents.dim() == 4:
            latents = latents.unsqueeze(2)
        z = latents.to(device, self.vae.dtype)
        mean, std = self._stats(z)
        temb = None
        if self.vae.config.timestep_conditioning:
            temb = torch.full((z.shape[0],), DECODE_TIMESTEP, device=z.device, dtype=z.dtype)
        decoded = self.vae.decode(z * std + mean, temb=temb).sample  # (B, 3, F, H, W) in [-1, 1]
        frames = decoded.float().permute(0, 2, 3, 4, 1).reshape(-1, *decoded.shape[-2:], 3)
        return ((frames + 1.0) / 2.0).clamp(0.0, 1.0).cpu()


def load_ltxv_vae(path: Path, state: dict[str, Any], config: dict[str, Any], device: str) -> LtxvVaeHandle:
    from diffusers import AutoencoderKLLTXVideo

    try:
        converted = vae_to_diffusers(state, len(config["down_block_types"]))
        vae, missing = module_from_state(
            AutoencoderKLLTXVideo, config, converted, torch.float32, device=device
        )
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(f"The VAE in {path.name!r} does not load as LTX-Video's: {exc}") from exc
    if missing:
        raise ValueError(f"The VAE in {path.name!r} lacks weights: {', '.join(missing[:5])}.")
    vae.to(device).eval().requires_grad_(False)
    return LtxvVaeHandle(vae=vae, scaling_factor=1.0, downscale=int(vae.spatial_compression_ratio))
