"""Loads a checkpoint from the model store into handles, offline (single files: single_file.py)."""

from __future__ import annotations

from pathlib import Path

from nodes.diffusion import sd2_loading, sdxl_loading
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
    """A diffusers folder, or a single ``.safetensors``/``.ckpt`` in the original SD 1.x/2.x/SDXL/refiner
    layout."""
    if path.is_dir():
        if model_family(path) == "sdxl_refiner":
            from nodes.diffusion.refiner_loading import load_refiner_diffusers

            return load_refiner_diffusers(path, device)
        if sdxl_loading.is_sdxl_folder(path):
            return sdxl_loading.load_sdxl_diffusers(path, device)
        if model_family(path) == "sd2":
            return sd2_loading.load_sd2_diffusers(path, device)
        return load_diffusers_checkpoint(path, device)
    family = model_family(path)  # read from the file's tensor table: .safetensors or a pickle
    if family == "svd":
        raise ValueError(
            f"Checkpoint {path.name!r} is a Stable Video Diffusion model: load it with "
            "ImageOnlyCheckpointLoader (it has no text encoder)."
        )
    if family == "sdxl":
        return sdxl_loading.load_sdxl_single_file(path, device)
    if family == "sd2":
        return sd2_loading.load_sd2_single_file(path, device)
    if family == "sdxl_refiner":
        from nodes.diffusion.refiner_loading import load_refiner_single_file

        return load_refiner_single_file(path, device)
    if family in CHECKPOINT_LOADERS:  # FLUX's (and later families') all-in-one files
        return loader_for(CHECKPOINT_LOADERS, family, f"Checkpoint {path.name!r}")(path, device)
    return load_single_file_checkpoint(path, device)
