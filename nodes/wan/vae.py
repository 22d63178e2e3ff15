"""Wan 2.1's video VAE (``vae/wan_2.1_vae.safetensors``): diffusers' AutoencoderKLWan.

The file keeps the reference's key layout (``encoder.conv1``, ``decoder.middle.0.residual.0.gamma`` ...);
diffusers' single-file loader maps it onto AutoencoderKLWan with the shipped config (configs/vae/) or a
sidecar ``NAME.config/vae/config.json``. It is causal in time: F frames become 1 + (F - 1) // 4 latent
frames of 16 channels at 1/8 the size. Latents are normalised per channel, (raw - mean) / std, with the
config's means and deviations, as ComfyUI's Wan latent format; the handle applies it both ways, so LATENTs
between nodes are in the model's space. An IMAGE batch is one clip of frames, as in ComfyUI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodes.diffusion.handles import VaeHandle
from nodes.diffusion.model_files import sidecar_or

CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "vae"
TEMPORAL = 4  # pixel frames per latent frame after the first


@dataclass(frozen=True)
class VideoVaeHandle(VaeHandle):
    latents_mean: tuple[float, ...] = ()
    latents_std: tuple[float, ...] = ()

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1, 1)
        mean = torch.tensor(self.latents_mean, device=like.device, dtype=like.dtype).view(shape)
        std = torch.tensor(self.latents_std, device=like.device, dtype=like.dtype).view(shape)
        return mean, std

    @torch.inference_mode()
    def encode_frames(self, pixels: torch.Tensor, device: str) -> torch.Tensor:
        """(F, H, W, C) IMAGE frames -> (1, 16, 1 + (F - 1) // 4, H/8, W/8), normalised, CPU float32."""
        x = pixels[..., :3].permute(3, 0, 1, 2).unsqueeze(0).to(device, self.vae.dtype) * 2.0 - 1.0
        raw = self.vae.encode(x).latent_dist.mode()  # the posterior's mode: deterministic, as ComfyUI
        mean, std = self._stats(raw)
        return ((raw - mean) / std).float().cpu()

    @torch.inference_mode()
    def decode_frames(self, latents: torch.Tensor, device: str) -> torch.Tensor:
        """(B, 16, T, h, w) -> (B * (1 + (T - 1) * 4), 8h, 8w, 3) IMAGE frames in [0, 1], clip after clip."""
        if latents.dim() == 4:  # one latent frame given as an image latent
            latents = latents.unsqueeze(2)
        z = latents.to(device, self.vae.dtype)
        mean, std = self._stats(z)
        decoded = self.vae.decode(z * std + mean).sample  # (B, 3, F, H, W) in [-1, 1]
        frames = decoded.float().permute(0, 2, 3, 4, 1).reshape(-1, *decoded.shape[-2:], 3)
        return ((frames + 1.0) / 2.0).clamp(0.0, 1.0).cpu()


def load_wan_vae(path: Path, state: dict[str, Any], device: str) -> VideoVaeHandle:
    from diffusers import AutoencoderKLWan

    config_dir = sidecar_or(path, CONFIG_DIR, needs="vae/config.json")
    try:
        vae = AutoencoderKLWan.from_single_file(
            state, config=str(config_dir), subfolder="vae", torch_dtype=torch.float32, local_files_only=True
        )
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise ValueError(
            f"VAE {path.name!r} does not match Wan 2.1's VAE config in {config_dir.name}/: {exc}"
        ) from exc
    vae.to(device).eval().requires_grad_(False)
    config = vae.config
    return VideoVaeHandle(
        vae=vae,
        scaling_factor=1.0,
        downscale=int(getattr(config, "scale_factor_spatial", None) or 8),
        latents_mean=tuple(float(v) for v in config.latents_mean),
        latents_std=tuple(float(v) for v in config.latents_std),
    )
