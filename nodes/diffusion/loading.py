"""Loads a checkpoint from the model store into handles, offline (single files: single_file.py)."""

from __future__ import annotations

from pathlib import Path

from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle
from nodes.diffusion.single_file import load_single_file_checkpoint, vae_handle


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
    return Checkpoint(
        model=ModelHandle(unet=unet, scheduler_config=scheduler_config_from(path)),
        clip=ClipHandle(tokenizer=tokenizer, text_encoder=text_encoder),
        vae=vae_handle(vae),
    )


def load_checkpoint(path: Path, device: str) -> Checkpoint:
    """A diffusers folder or a single ``.safetensors`` in the original SD layout."""
    if path.is_dir():
        return load_diffusers_checkpoint(path, device)
    return load_single_file_checkpoint(path, device)


def scheduler_config_from(path: Path) -> dict:
    """The training noise schedule from ``path/scheduler/scheduler_config.json`` (SD1's when absent)."""
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
