"""Loads SD3 / SD3.5 (medium, large, large turbo) from the files users have, offline, into diffusers.

- ``diffusion_models/sd3.5_medium.safetensors`` (or ``sd3_medium``, ``sd3.5_large``...): the MMDiT in
  Stability AI's key layout, bare (``joint_blocks.N...``) or under ``model.diffusion_model.``;
- ``checkpoints/sd3.5_large.safetensors`` and the ``*_incl_clips_t5xxlfp8scaled`` forms: the MMDiT,
  the VAE (``first_stage_model.*``) and any of ``text_encoders.clip_l/clip_g/t5xxl.transformer.*``.

The architecture is read off the header (widths, depth, patch size, position grid, which blocks have
SD3.5 medium's second attention, whether there is qk-norm) and must equal one shipped config
(configs/<name>/transformer/) or a sidecar ``NAME.config/transformer/config.json``; a file of another
size fails with what differs before anything is built.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from nodes.diffusion.handles import Checkpoint, ClipHandle, ModelHandle
from nodes.loaders.families import DIFFUSION_PREFIXES, shape_of
from nodes.loaders.weights import (
    dequantize_scaled_fp8,
    diffusion_module,
    file_fp8_dtype,
    flow_dtype,
    fp8_storage,
    read_prefixed,
)
from nodes.model_family import read_safetensors_header
from nodes.sd3.layout import count_blocks, sai_to_diffusers

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SHIPPED = ("sd3_medium", "sd3.5_medium", "sd3.5_large")  # large turbo has large's architecture
DEFAULT_SHIFT = 3.0  # ComfyUI's ModelSamplingSD3 default, and what it sets on load
TEXT_PARTS = ("clip_l", "clip_g", "t5xxl")
# What decides a config; attention_head_dim only shows in the header through qk-norm's scales.
DIMS = (
    "in_channels", "patch_size", "out_channels", "joint_attention_dim", "caption_projection_dim",
    "pooled_projection_dim", "num_layers", "pos_embed_max_size", "dual_attention_layers", "qk_norm", "hidden",
)  # fmt: skip


def sd3_prefix(header: dict[str, Any]) -> str:
    for prefix in DIFFUSION_PREFIXES[::-1]:
        if f"{prefix}joint_blocks.0.x_block.attn.qkv.weight" in header:
            return prefix
    raise ValueError("not an SD3 MMDiT in Stability AI's layout (no joint_blocks.0.x_block.attn.qkv.weight)")


def header_dims(header: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The sizes an SD3 MMDiT's header gives away (which decide its diffusers config)."""
    keys = [k[len(prefix) :] for k in header if k.startswith(prefix)]

    def shape(key: str) -> list[int]:
        found = shape_of(header, key, (prefix,))
        if found is None:
            raise ValueError(f"not an SD3 MMDiT in Stability AI's layout: it has no {prefix}{key}")
        return found

    hidden, in_channels, patch, _ = shape("x_embedder.proj.weight")
    caption, joint = shape("context_embedder.weight")
    depth = count_blocks(keys)
    dims: dict[str, Any] = {
        "hidden": hidden,
        "in_channels": in_channels,
        "patch_size": patch,
        "out_channels": shape("final_layer.linear.weight")[0] // (patch * patch),
        "joint_attention_dim": joint,
        "caption_projection_dim": caption,
        "pooled_projection_dim": shape("y_embedder.mlp.0.weight")[1],
        "num_layers": depth,
        "pos_embed_max_size": math.isqrt(shape("pos_embed")[1]),
        "dual_attention_layers": [
            i for i in range(depth) if f"joint_blocks.{i}.x_block.attn2.qkv.weight" in keys
        ],
        "qk_norm": "rms_norm" if "joint_blocks.0.x_block.attn.ln_q.weight" in keys else None,
    }
    if dims["qk_norm"]:
        dims["attention_head_dim"] = shape("joint_blocks.0.x_block.attn.ln_q.weight")[0]
    return dims


def _config_dims(config: dict[str, Any], with_head: bool) -> dict[str, Any]:
    dims = {key: config.get(key) for key in DIMS if key != "hidden"}
    dims["dual_attention_layers"] = list(config.get("dual_attention_layers") or [])
    dims["hidden"] = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
    if with_head:
        dims["attention_head_dim"] = config["attention_head_dim"]
    return dims


def _read_config(source: Path) -> dict[str, Any]:
    return {k: v for k, v in json.loads(source.read_text(encoding="utf-8")).items() if not k.startswith("_")}


def transformer_config(path: Path, header: dict[str, Any], prefix: str = "") -> tuple[str, dict[str, Any]]:
    """(config name, diffusers config) of the MMDiT in `header`: the sidecar's, else the shipped one
    whose sizes it has."""
    found = header_dims(header, prefix)
    sidecar = path.with_suffix(".config") / "transformer" / "config.json"
    candidates = [("sidecar", sidecar)] if sidecar.is_file() else []
    candidates += [(name, CONFIG_DIR / name / "transformer" / "config.json") for name in SHIPPED]
    for name, source in candidates:
        config = _read_config(source)
        if _config_dims(config, "attention_head_dim" in found) == found:
            return name, config
    shown = {k: v for k, v in found.items() if k != "dual_attention_layers"}
    shown["dual_attention_blocks"] = len(found["dual_attention_layers"])
    detail = ", ".join(f"{k} {v}" for k, v in shown.items())
    raise ValueError(
        f"{path.name!r} is an SD3 MMDiT of a size no shipped config ({', '.join(SHIPPED)}) describes "
        f"({detail}). Put its diffusers config in {path.with_suffix('.config').name}/transformer/config.json "
        "next to it."
    )


def build_transformer(
    path: Path, state: dict[str, Any], config: dict[str, Any], device: str, weight_dtype: str
) -> Any:
    """SD3Transformer2DModel from an SAI-layout state (popped empty), on `device` for inference."""
    from diffusers import SD3Transformer2DModel

    compute = flow_dtype(device)
    # ComfyUI's fp8 "scaled" files: each weight times its scale, in the compute dtype.
    state = dequantize_scaled_fp8(state, compute)
    storage = fp8_storage(weight_dtype, file_fp8_dtype(state), device)
    return diffusion_module(
        SD3Transformer2DModel,
        config,
        lambda: sai_to_diffusers(state),
        what=f"SD3 model {path.name!r}",
        compute=compute,
        device=device,
        storage=storage,
    )


def sd3_model_handle(transformer: Any) -> ModelHandle:
    from nodes.sampling.model_sampling import ModelSampling

    # Flow matching, timestep = 1000 * sigma, SD3's rational shift of 3.0 (ModelSamplingSD3 changes it).
    return ModelHandle(
        unet=transformer,
        scheduler_config={"num_train_timesteps": 1000},
        family="sd3",
        model_sampling=ModelSampling.flow(shift=DEFAULT_SHIFT, multiplier=1000.0),
    )


def load_sd3_diffusion_model(path: Path, device: str, weight_dtype: str = "default") -> ModelHandle:
    """UNETLoader's SD3: a diffusion_models/ single file in SAI's layout (bare or prefixed)."""
    header = read_safetensors_header(path)
    try:
        prefix = sd3_prefix(header)
        _, config = transformer_config(path, header, prefix)
    except ValueError as exc:
        raise ValueError(f"Diffusion model {path.name!r}: {exc}") from None
    state = read_prefixed(path, prefix, what="Diffusion model")
    # A checkpoint's other parts are not the transformer's.
    state = {k: v for k, v in state.items() if not k.startswith(("text_encoders.", "first_stage_model."))}
    return sd3_model_handle(build_transformer(path, state, config, device, weight_dtype))


def load_sd3_checkpoint(path: Path, device: str) -> Checkpoint:
    """CheckpointLoaderSimple's SD3: the MMDiT, its VAE and whichever text encoders the file has."""
    from nodes.flux.vae import load_flux_vae_state
    from nodes.sd3.text import sd3_clip_from_checkpoint
    from nodes.sd3.vae import CONFIG_DIR as VAE_CONFIGS

    header = read_safetensors_header(path)
    if not any(k.startswith("first_stage_model.decoder.") for k in header):
        raise ValueError(
            f"Checkpoint {path.name!r} holds an SD3 MMDiT but no VAE (first_stage_model.*): load it with "
            "UNETLoader, the VAE with VAELoader and the text encoders with TripleCLIPLoader."
        )
    model = load_sd3_diffusion_model(path, device)
    vae_state = read_prefixed(path, "first_stage_model.", what="Checkpoint")
    vae = load_flux_vae_state(path, vae_state, device, config_dir=VAE_CONFIGS)
    parts = [part for part in TEXT_PARTS if any(k.startswith(f"text_encoders.{part}.") for k in header)]
    clip = sd3_clip_from_checkpoint(path, parts, device) if parts else ClipHandle(None, None, kind="none")
    return Checkpoint(model=model, clip=clip, vae=vae)
