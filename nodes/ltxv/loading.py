"""Loads LTX-Video's all-in-one checkpoint (``checkpoints/ltx-video-2b-v0.9.5.safetensors``), offline.

CheckpointLoaderSimple's LTX-Video: the transformer (``model.diffusion_model.*``, original layout) as
diffusers' LTXVideoTransformer3DModel, the VAE (``vae.*``) as AutoencoderKLLTXVideo (layout.py renames
both). It holds no text encoder: CLIPLoader type ``ltxv`` loads T5-XXL. The architecture is a sidecar
``NAME.config/{transformer,vae}/config.json`` (tiny test models) or the shipped 2B 0.9.x config
(configs/); every size the header gives away is compared with it first, so another model fails at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle
from nodes.diffusion.model_files import sidecar_or
from nodes.loaders.weights import diffusion_module, flow_dtype, read_prefixed
from nodes.ltxv.layout import TRANSFORMER_PREFIX, VAE_PREFIX, header_dims, transformer_to_diffusers
from nodes.model_family import read_safetensors_header

CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "2b_0.9.5"
# ComfyUI's LTX-Video model sampling on load: flow matching with a shift of 2.37 (ModelSamplingLTXV's at
# the default 4096 tokens), timesteps sigma * 1000.
LTXV_SHIFT = 2.37


def _config(path: Path, part: str) -> dict[str, Any]:
    folder = sidecar_or(path, CONFIG_DIR, needs=f"{part}/config.json")
    raw = json.loads((folder / part / "config.json").read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def checkpoint_configs(path: Path, header: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(transformer config, VAE config) for the checkpoint, checked against its header's shapes."""
    if not any(key.startswith(VAE_PREFIX) for key in header):
        raise ValueError(
            "it holds an LTX-Video transformer but no VAE (vae.*): CheckpointLoaderSimple takes the "
            "all-in-one checkpoint (ltx-video-2b-v0.9.5.safetensors), which carries both."
        )
    found = header_dims(header)
    transformer, vae = _config(path, "transformer"), _config(path, "vae")
    expected = {
        "hidden": int(transformer["num_attention_heads"]) * int(transformer["attention_head_dim"]),
        "in_channels": transformer["in_channels"],
        "caption_channels": transformer["caption_channels"],
        "num_layers": transformer["num_layers"],
        "vae_top_channels": vae["block_out_channels"][-1],
        "vae_down_blocks": len(vae["down_block_types"]),
    }
    wrong = {k: (found[k], expected[k]) for k in found if found[k] != expected[k]}
    if wrong:
        detail = "; ".join(
            f"{k}: the file has {have}, the config {want}" for k, (have, want) in wrong.items()
        )
        raise ValueError(
            f"{path.name!r} is not the LTX-Video model its config describes (the shipped one is the 2B "
            f"0.9.5: width 2048, 28 blocks, 128 latent channels, a 0.9.5 VAE): {detail}. Put a matching "
            f"config in {path.with_suffix('.config').name}/transformer/ and vae/."
        )
    return transformer, vae


def load_ltxv_checkpoint(path: Path, device: str) -> Checkpoint:
    from diffusers import LTXVideoTransformer3DModel

    from nodes.ltxv.vae import load_ltxv_vae
    from nodes.sampling.model_sampling import ModelSampling

    header = read_safetensors_header(path)
    try:
        transformer_config, vae_config = checkpoint_configs(path, header)
    except ValueError as exc:
        raise ValueError(f"Checkpoint {path.name!r}: {exc}") from None
    state = transformer_to_diffusers(read_prefixed(path, TRANSFORMER_PREFIX, what="Checkpoint"))
    compute = flow_dtype(device)
    model = diffusion_module(
        LTXVideoTransformer3DModel,
        transformer_config,
        lambda: state,
        what=f"LTX-Video checkpoint {path.name!r}",
        compute=compute,
        device=device,
    )
    vae = load_ltxv_vae(path, read_prefixed(path, VAE_PREFIX, what="Checkpoint"), vae_config, device)
    handle = ModelHandle(
        unet=model,
        scheduler_config={"num_train_timesteps": 1000},
        family="ltxv",
        model_sampling=ModelSampling.flow(shift=LTXV_SHIFT, multiplier=1000.0, flux=True),
    )
    return Checkpoint(model=handle, clip=ClipHandle(None, None, kind="none"), vae=vae)
