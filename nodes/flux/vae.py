"""FLUX.1's VAE (``vae/ae.safetensors``): a 16-channel AutoencoderKL in BFL's (ldm) key layout.

Its latents are scaled by 0.3611 after a shift of 0.1159 (the shipped config); the VAE handle
applies both, so LATENTs between nodes are in the model's space as for SD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodes.diffusion.handles import VaeHandle
from nodes.diffusion.model_files import sidecar_or

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def load_flux_vae_state(
    path: Path, state: dict[str, Any], device: str, *, config_dir: Path = CONFIG_DIR
) -> VaeHandle:
    """The VAE from `state` (encoder.*/decoder.* keys), float32 as the SD VAEs. SD3's VAE has this
    architecture too, with its own scale and shift: nodes/sd3/configs/ passes as `config_dir`."""
    import torch
    from diffusers import AutoencoderKL

    from nodes.diffusion.assembly import vae_handle

    config_dir = sidecar_or(path, config_dir, needs="vae/config.json")
    try:
        vae = AutoencoderKL.from_single_file(
            state, config=str(config_dir), subfolder="vae", torch_dtype=torch.float32, local_files_only=True
        )
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(
            f"VAE {path.name!r} does not match the 16-channel VAE config in {config_dir.name}/: {exc}"
        ) from exc
    vae.to(device).eval().requires_grad_(False)
    return vae_handle(vae)
