"""Builds handles from loaded components: shared by the diffusers-folder and single-file loaders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle, VaeHandle


def assemble_checkpoint(
    *, unet: Any, vae: Any, text_encoder: Any, tokenizer: Any, scheduler_dir: Path, device: str
) -> Checkpoint:
    """Move the modules to the device for inference and wrap them as the MODEL, CLIP and VAE handles."""
    for module in (unet, vae, text_encoder):
        module.to(device).eval().requires_grad_(False)
    return Checkpoint(
        model=ModelHandle(unet=unet, scheduler_config=scheduler_config_from(scheduler_dir)),
        clip=ClipHandle(tokenizer=tokenizer, text_encoder=text_encoder),
        vae=vae_handle(vae),
    )


def vae_handle(vae: Any) -> VaeHandle:
    from nodes.diffusion.vae_attention import use_chunked_attention

    # Bounded memory and a cancel check between chunks on large images; identical values (vae_attention.py).
    use_chunked_attention(vae)
    return VaeHandle(
        vae=vae,
        scaling_factor=float(vae.config.scaling_factor),
        shift_factor=float(getattr(vae.config, "shift_factor", None) or 0.0),
        downscale=2 ** (len(vae.config.block_out_channels) - 1),
    )


def scheduler_config_from(path: Path) -> dict:
    """The training noise schedule from ``path/scheduler/scheduler_config.json`` (SD1's when absent)."""
    config_file = path / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    # Only the noise schedule of the training run matters; the sampler comes from KSampler.
    keys = (
        "num_train_timesteps",
        "beta_start",
        "beta_end",
        "beta_schedule",
        "prediction_type",
        "trained_betas",
    )
    defaults = {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
    }
    return {**defaults, **{k: config[k] for k in keys if k in config}}
