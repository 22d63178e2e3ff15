"""Loads a checkpoint from the model store into handles, offline (single files: single_file.py)."""

from __future__ import annotations

from pathlib import Path

from nodes.diffusion import sdxl_loading
from nodes.diffusion.assembly import assemble_checkpoint
from nodes.diffusion.handles import Checkpoint
from nodes.diffusion.model_files import weights_dtype
from nodes.diffusion.single_file import load_single_file_checkpoint
from nodes.loaders.families import CHECKPOINT_LOADERS, loader_for
from nodes.model_family import model_family


def load_diffusers_checkpoint(path: Path, device: str) -> Checkpoint:
    """A diffusers-format folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    if not (path / "unet").is_dir():
        raise ValueError(f"Checkpoint {path.name!r} is not a Stable Diffusion diffusers folder (no unet/).")
    dtype = weights_dtype(device)
    common = {"local_files_only": True, "low_cpu_mem_usage": False}
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=dtype, **common)
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=torch.float32, **common)
    text_encoder = CLIPTextModel.from_pretrained(
        path, subfolder="text_encoder", torch_dtype=dtype, local_files_only=True
    )
    tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer", local_files_only=True)
    return assemble_checkpoint(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler_dir=path, device=device
    )


def load_checkpoint(path: Path, device: str) -> Checkpoint:
    """A diffusers folder or a single ``.safetensors`` in the original SD/SDXL layout (sdxl_loading.py)."""
    if path.is_dir():
        if sdxl_loading.is_sdxl_folder(path):
            return sdxl_loading.load_sdxl_diffusers(path, device)
        return load_diffusers_checkpoint(path, device)
    family = model_family(path) if path.suffix == ".safetensors" else "unknown"
    if family == "sdxl":
        return sdxl_loading.load_sdxl_single_file(path, device)
    if family in CHECKPOINT_LOADERS:  # FLUX's (and later families') all-in-one files
        return loader_for(CHECKPOINT_LOADERS, family, f"Checkpoint {path.name!r}")(path, device)
    if family in UNSUPPORTED_FAMILIES:
        raise ValueError(
            f"Checkpoint {path.name!r} is {UNSUPPORTED_FAMILIES[family]}, which does not load yet."
        )
    return load_single_file_checkpoint(path, device)


# Families the store recognises (GET /v1/models lists them) but no loader builds yet.
UNSUPPORTED_FAMILIES = {"sd2": "an SD 2.x checkpoint", "sdxl_refiner": "an SDXL refiner checkpoint"}
