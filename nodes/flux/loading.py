"""Loads FLUX.1 (dev, schnell) from the files users have, offline, into diffusers' modules.

- ``diffusion_models/flux1-dev.safetensors`` (or schnell, or an fp8 variant): the transformer in
  Black Forest Labs' key layout (layout.py converts it);
- ``checkpoints/flux1-dev-fp8.safetensors``, the all-in-one form: ``model.diffusion_model.*``,
  ``text_encoders.clip_l.transformer.*``, ``text_encoders.t5xxl.transformer.*`` and the VAE
  (``first_stage_model.*`` or ``vae.*``).

The architecture comes from a sidecar ``NAME.config/transformer/config.json`` when there is one
(tiny test models), else from the shipped dev or schnell config; the header's shapes are checked
against it before anything is built, so a file of another size fails at once with what differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.diffusion.handles import Checkpoint, ModelHandle
from nodes.flux.layout import bfl_to_diffusers, count_blocks
from nodes.loaders.families import DIFFUSION_PREFIXES, shape_of
from nodes.loaders.weights import diffusion_module, file_fp8_dtype, flow_dtype, fp8_storage, read_prefixed
from nodes.model_family import read_safetensors_header

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
CHECKPOINT_VAE_PREFIXES = ("first_stage_model.", "vae.")
# ComfyUI's FLUX model sampling on load: dev shifts toward noise, schnell (few steps) does not.
SHIFTS = {"dev": 1.15, "schnell": 1.0}


def transformer_config(path: Path, header: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The diffusers config for the transformer in `header`, checked against its shapes."""
    dev = f"{prefix}guidance_in.in_layer.weight" in header
    sidecar = path.with_suffix(".config") / "transformer" / "config.json"
    source = (
        sidecar
        if sidecar.is_file()
        else CONFIG_DIR / ("dev" if dev else "schnell") / "transformer" / "config.json"
    )
    config = {
        k: v for k, v in json.loads(source.read_text(encoding="utf-8")).items() if not k.startswith("_")
    }
    found = header_dims(header, prefix)
    expected = {key: config.get(key) for key in found}
    expected["hidden"] = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
    wrong = {k: (found[k], expected[k]) for k in found if found[k] != expected[k]}
    if wrong:
        detail = "; ".join(
            f"{k}: the file has {have}, the config {want}" for k, (have, want) in wrong.items()
        )
        raise ValueError(
            f"{path.name!r} is not a FLUX.1 {'dev' if dev else 'schnell'} transformer of the size its config "
            f"({source.parent.parent.name}/) describes: {detail}. Put a matching config in "
            f"{path.with_suffix('.config').name}/transformer/config.json next to it."
        )
    return config


def header_dims(header: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The sizes a FLUX transformer's header gives away (which decide its diffusers config)."""
    keys = [k[len(prefix) :] for k in header if k.startswith(prefix)]

    def shape(key: str) -> list[int]:
        found = shape_of(header, key, (prefix,))
        if found is None:
            raise ValueError(f"not a FLUX.1 transformer in BFL's layout: it has no {prefix}{key}")
        return found

    img_in = shape("img_in.weight")
    return {
        "hidden": img_in[0],
        "in_channels": img_in[1],
        "joint_attention_dim": shape("txt_in.weight")[1],
        "pooled_projection_dim": shape("vector_in.in_layer.weight")[1],
        "attention_head_dim": shape("double_blocks.0.img_attn.norm.query_norm.scale")[0],
        "num_layers": count_blocks(keys, "double_blocks"),
        "num_single_layers": count_blocks(keys, "single_blocks"),
        "guidance_embeds": "guidance_in.in_layer.weight" in keys,
    }


def build_transformer(
    path: Path, state: dict[str, Any], config: dict[str, Any], device: str, weight_dtype: str
) -> Any:
    """FluxTransformer2DModel from a BFL-layout state (popped empty), on `device` for inference."""
    from diffusers import FluxTransformer2DModel

    compute = flow_dtype(device)
    storage = fp8_storage(weight_dtype, file_fp8_dtype(state), device)
    hidden = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
    return diffusion_module(
        FluxTransformer2DModel,
        config,
        lambda: bfl_to_diffusers(state, hidden=hidden),
        what=f"FLUX model {path.name!r}",
        compute=compute,
        device=device,
        storage=storage,
    )


def flux_model_handle(transformer: Any) -> ModelHandle:
    from nodes.sampling.model_sampling import ModelSampling

    variant = "dev" if transformer.config.guidance_embeds else "schnell"
    return ModelHandle(
        unet=transformer,
        scheduler_config={"num_train_timesteps": 1000},
        family="flux",
        model_sampling=ModelSampling.flow(shift=SHIFTS[variant], multiplier=1.0, flux=True),
    )


def _prefix_of(header: dict[str, Any]) -> str:
    for prefix in DIFFUSION_PREFIXES[::-1]:
        if f"{prefix}double_blocks.0.img_attn.qkv.weight" in header:
            return prefix
    raise ValueError("not a FLUX.1 transformer in BFL's layout (no double_blocks.0.img_attn.qkv.weight)")


def load_flux_diffusion_model(path: Path, device: str, weight_dtype: str = "default") -> ModelHandle:
    """UNETLoader's FLUX: a diffusion_models/ single file in BFL's layout."""
    header = read_safetensors_header(path)
    try:
        prefix = _prefix_of(header)
        config = transformer_config(path, header, prefix)
    except ValueError as exc:
        raise ValueError(f"Diffusion model {path.name!r}: {exc}") from None
    state = read_prefixed(path, prefix, what="Diffusion model")
    return flux_model_handle(build_transformer(path, state, config, device, weight_dtype))


def load_flux_checkpoint(path: Path, device: str) -> Checkpoint:
    """CheckpointLoaderSimple's FLUX: the all-in-one single file (transformer, CLIP-L, T5-XXL, VAE)."""
    from nodes.flux.vae import load_flux_vae_state
    from nodes.loaders.text_encoders import clip_from_state, flux_clip, t5_from_state

    header = read_safetensors_header(path)
    model = load_flux_diffusion_model(path, device)
    vae_prefix = next((p for p in CHECKPOINT_VAE_PREFIXES if f"{p}decoder.conv_in.weight" in header), None)
    missing = [
        name
        for name, present in (
            (
                "text_encoders.clip_l.transformer.*",
                any(k.startswith("text_encoders.clip_l.") for k in header),
            ),
            ("text_encoders.t5xxl.transformer.*", any(k.startswith("text_encoders.t5xxl.") for k in header)),
            ("first_stage_model.* (the VAE)", vae_prefix is not None),
        )
        if not present
    ]
    if missing:
        raise ValueError(
            f"Checkpoint {path.name!r} holds a FLUX.1 transformer but not {', '.join(missing)}: load it "
            "with UNETLoader, the text encoders with DualCLIPLoader (type flux), the VAE with VAELoader."
        )
    clip_state = read_prefixed(path, "text_encoders.clip_l.transformer.", what="Checkpoint")
    clip_l, tokenizer = clip_from_state(path, clip_state, device, sidecar_part="text_encoder")
    t5_state = read_prefixed(path, "text_encoders.t5xxl.transformer.", what="Checkpoint")
    t5, t5_tokenizer = t5_from_state(path, t5_state, device)
    vae = load_flux_vae_state(path, read_prefixed(path, vae_prefix or "", what="Checkpoint"), device)
    clip = flux_clip(tokenizer, clip_l, t5_tokenizer, t5)
    return Checkpoint(model=model, clip=clip, vae=vae)
