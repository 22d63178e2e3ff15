"""Loads a checkpoint from the model store into handles, offline."""

from __future__ import annotations

from pathlib import Path

from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle, VaeHandle


def load_diffusers_checkpoint(path: Path, device: str) -> Checkpoint:
    """A diffusers-format folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    if not (path / "unet").is_dir():
        raise ValueError(f"Checkpoint {path.name!r} is not a Stable Diffusion diffusers folder (no unet/).")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    common = {"local_files_only": True, "low_cpu_mem_usage": False}
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype, **common)
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=torch.float32, **common)
    text_encoder = CLIPTextModel.from_pretrained(
        path, subfolder="text_encoder", torch_dtype=dtype, local_files_only=True
    )
    tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer", local_files_only=True)
    for module in (unet, vae, text_encoder):
        module.to(device).eval().requires_grad_(False)
    scheduler_config = _scheduler_config(path)
    return Checkpoint(
        model=ModelHandle(unet=unet, scheduler_config=scheduler_config),
        clip=ClipHandle(tokenizer=tokenizer, text_encoder=text_encoder),
        vae=VaeHandle(
            vae=vae,
            scaling_factor=float(vae.config.scaling_factor),
            downscale=2 ** (len(vae.config.block_out_channels) - 1),
        ),
    )


def _scheduler_config(path: Path) -> dict:
    import json

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
