"""Tiny random Stable Video Diffusion checkpoints in Stability's SGM single-file layout.

``write_tiny_svd`` writes what ``svd.safetensors`` / ``svd_xt.safetensors`` hold, at toy size: the
video UNet under ``model.diffusion_model.`` (two levels, one block each, with the real temporal
layers), the temporal VAE under ``first_stage_model.`` (an ldm encoder, sgm's VideoDecoder; no
quant_conv, as sgm's AutoencodingEngine has none) and the OpenCLIP image tower under
``conditioner.embedders.0.open_clip.model.visual.``. Keys come from diffusers modules renamed with
nodes/svd/keys.py; the architecture goes in the sidecar ``NAME.config/`` (unet.json, vae.json,
clip_vision/config.json), as the loader reads it. Weights are random: frames are noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiny_models.clip_vision import PROJECTION_DIM, _save_config, tiny_vision_model, vision_to_open_clip
from tiny_models.common import make_readable, save_safetensors, sidecar_config_dir

CLIP_PREFIX = "conditioner.embedders.0.open_clip.model.visual."
FRAMES = {"svd": 14, "svd_xt": 25}


def unet_config(frames: int) -> dict[str, Any]:
    return {
        "sample_size": 8,
        "in_channels": 8,
        "out_channels": 4,
        "down_block_types": ["CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"],
        "up_block_types": ["UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"],
        "block_out_channels": [32, 64],
        "addition_time_embed_dim": 8,  # three time ids of 8 channels each
        "projection_class_embeddings_input_dim": 24,
        "layers_per_block": 1,
        "cross_attention_dim": PROJECTION_DIM,  # the image embedding is the context
        "transformer_layers_per_block": 1,
        "num_attention_heads": [2, 4],
        "num_frames": frames,
    }


def vae_config() -> dict[str, Any]:
    # Four levels, as SVD's (8x downscale); two blocks per level, so the decoder's mid block has sgm's
    # block_1 and block_2.
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "block_out_channels": [32, 32, 32, 32],
        "layers_per_block": 2,
        "latent_channels": 4,
        "sample_size": 64,
        "scaling_factor": 0.18215,
    }


def tiny_svd_state(
    seed: int, variant: str = "svd"
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], Any]:
    """(SGM state dict, unet config, vae config, the CLIP vision model) of a tiny SVD."""
    import torch
    from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel

    from nodes.svd.keys import UNET_PREFIX, VAE_PREFIX, unet_sgm_name, vae_sgm_name

    if variant not in FRAMES:
        raise ValueError(f"variant must be one of {', '.join(FRAMES)}, got {variant!r}")
    unet_cfg, vae_cfg = unet_config(FRAMES[variant]), vae_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNetSpatioTemporalConditionModel(**unet_cfg)
        vae = AutoencoderKLTemporalDecoder(**vae_cfg)
        # Random blend factors, so a mix-up of spatial and temporal halves changes the output.
        for name, param in [*unet.named_parameters(), *vae.named_parameters()]:
            if name.endswith("mix_factor"):
                param.data.normal_()
    vision = tiny_vision_model(seed + 4)
    state: dict[str, Any] = {}
    for key, value in unet.state_dict().items():
        state[UNET_PREFIX + unet_sgm_name(key, unet_cfg)] = value
    for key, value in vae.state_dict().items():
        if key.startswith("quant_conv."):
            continue  # sgm's AutoencodingEngine has none (the loader makes diffusers' the identity)
        name = vae_sgm_name(key, vae_cfg)
        if ".attn_1." in name and name.endswith("weight") and value.dim() == 2:
            value = value[:, :, None, None]  # ldm's attention projections are 1x1 convolutions
        state[VAE_PREFIX + name] = value
    vision_state = {k: v for k, v in vision.state_dict().items() if not k.endswith("position_ids")}
    state.update(vision_to_open_clip(vision_state, CLIP_PREFIX))
    return state, unet_cfg, vae_cfg, vision


def write_tiny_svd(path: Path, *, seed: int = 0, variant: str = "svd") -> Path:
    path = Path(path)
    state, unet_cfg, vae_cfg, vision = tiny_svd_state(seed, variant)
    save_safetensors(state, path)
    config_dir = sidecar_config_dir(path)
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, config in (("unet.json", unet_cfg), ("vae.json", vae_cfg)):
        (config_dir / name).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    _save_config(vision, config_dir / "clip_vision" / "config.json")
    make_readable(path)
    make_readable(config_dir)
    return path


def write_tiny_svd_store(root: Path, *, seed: int = 0) -> None:
    """checkpoints/svd.safetensors and checkpoints/svd_xt.safetensors, the names ComfyUI's examples load."""
    write_tiny_svd(Path(root) / "checkpoints" / "svd.safetensors", seed=seed, variant="svd")
    write_tiny_svd(Path(root) / "checkpoints" / "svd_xt.safetensors", seed=seed + 1, variant="svd_xt")
