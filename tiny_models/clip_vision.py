"""Tiny random CLIP vision towers (``models/clip_vision/``) and a tiny SD 2.1 unCLIP checkpoint.

``write_tiny_clip_vision`` writes a CLIPVisionModelWithProjection's weights in transformers' layout
(``vision_model.*``, ``visual_projection.weight``: how ``clip_vision_g.safetensors`` and
``CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors`` ship) or OpenCLIP's (``visual.conv1.weight``,
``visual.transformer.resblocks.N`` with fused q/k/v, ``visual.proj``), its tiny config in
``NAME.config/config.json``. ``write_tiny_sd21_unclip`` writes an SD 2.1 unCLIP single file as
``sd21-unclip-h`` lays it out: a tiny SD 2.x (v-prediction) whose UNet takes class labels
(``label_emb.0``), the image tower under ``embedder.model.visual.``, and the noise augmentor's
buffers (``noise_augmentor.data_mean``/``data_std`` and its squared-cosine schedule).
Weights are random: images are noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiny_models.common import make_readable, save_safetensors, sidecar_config_dir

#: The image embedding width: the tiny SDXL's pooled text width too (for SDXL "revision").
PROJECTION_DIM = 24


def vision_config(projection_dim: int = PROJECTION_DIM) -> dict[str, Any]:
    return {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
        "projection_dim": projection_dim,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
    }


def tiny_vision_model(seed: int, projection_dim: int = PROJECTION_DIM) -> Any:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CLIPVisionModelWithProjection(CLIPVisionConfig(**vision_config(projection_dim)))


def vision_to_open_clip(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A CLIPVisionModelWithProjection state dict in OpenCLIP's image-tower layout under `prefix`."""
    import torch

    from tiny_models.sgm_layout import _OPEN_CLIP_LAYER_PARTS

    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
    v = "vision_model."
    out = {
        "class_embedding": state.pop(v + "embeddings.class_embedding"),
        "conv1.weight": state.pop(v + "embeddings.patch_embedding.weight"),
        "positional_embedding": state.pop(v + "embeddings.position_embedding.weight"),
        "ln_pre.weight": state.pop(v + "pre_layrnorm.weight"),
        "ln_pre.bias": state.pop(v + "pre_layrnorm.bias"),
        "ln_post.weight": state.pop(v + "post_layernorm.weight"),
        "ln_post.bias": state.pop(v + "post_layernorm.bias"),
        "proj": state.pop("visual_projection.weight").T.contiguous(),
    }
    layers = sorted({int(k.split(".")[3]) for k in state if k.startswith(v + "encoder.layers.")})
    for n in layers:
        src, dst = f"{v}encoder.layers.{n}.", f"transformer.resblocks.{n}."
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{src}self_attn.{p}_proj.{kind}") for p in ("q", "k", "v")]
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(parts, dim=0)
        for key in [k for k in state if k.startswith(src)]:
            rest = key[len(src) :]
            for old, new in _OPEN_CLIP_LAYER_PARTS:  # transformers' name -> OpenCLIP's
                if rest.startswith(old):
                    rest = new + rest[len(old) :]
                    break
            out[dst + rest] = state.pop(key)
    if state:
        raise ValueError(f"Unmapped vision weights: {sorted(state)[:5]}")
    return {prefix + key: value for key, value in out.items()}


def _save_config(model: Any, file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in model.config.to_dict().items() if k in vision_config()}
    file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_tiny_clip_vision(
    path: Path, *, seed: int = 0, layout: str = "transformers", projection_dim: int = PROJECTION_DIM
) -> Path:
    path = Path(path)
    model = tiny_vision_model(seed, projection_dim)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    if layout == "open_clip":
        state = vision_to_open_clip(state, "visual.")
    elif layout != "transformers":
        raise ValueError(f"layout must be 'transformers' or 'open_clip', got {layout!r}")
    save_safetensors(state, path)
    _save_config(model, sidecar_config_dir(path) / "config.json")
    make_readable(path)
    make_readable(sidecar_config_dir(path))
    return path


def noise_augmentor_state(width: int, seed: int) -> dict[str, Any]:
    """The augmentor's buffers as ldm saves them: data statistics and its squared-cosine schedule."""
    import math

    import torch

    generator = torch.Generator().manual_seed(seed)
    # The squared-cosine schedule (Nichol & Dhariwal 2021), betas capped at 0.999, 1000 levels.
    bar = [math.cos((i / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2 for i in range(1001)]
    betas = torch.tensor([min(1 - bar[i + 1] / bar[i], 0.999) for i in range(1000)], dtype=torch.float64)
    cumprod = torch.cumprod(1 - betas, dim=0)
    return {
        "noise_augmentor.data_mean": torch.randn(1, width, generator=generator) * 0.1,
        "noise_augmentor.data_std": torch.rand(1, width, generator=generator) + 0.5,
        "noise_augmentor.betas": betas.float(),
        "noise_augmentor.alphas_cumprod": cumprod.float(),
        "noise_augmentor.sqrt_alphas_cumprod": cumprod.sqrt().float(),
        "noise_augmentor.sqrt_one_minus_alphas_cumprod": (1 - cumprod).sqrt().float(),
    }


def write_tiny_sd21_unclip(path: Path, *, seed: int = 0) -> Path:
    from tiny_models.sd2 import sd2_ldm_state, tiny_sd2_modules, write_sd2_configs

    path = Path(path)
    modules = tiny_sd2_modules(seed, "v", class_embed_dim=2 * PROJECTION_DIM)
    vision = tiny_vision_model(seed + 4)
    state = {
        **sd2_ldm_state(modules, "v"),
        **vision_to_open_clip(vision.state_dict(), "embedder.model.visual."),
        **noise_augmentor_state(PROJECTION_DIM, seed + 5),
    }
    save_safetensors(state, path)
    config_dir = sidecar_config_dir(path)
    write_sd2_configs(config_dir, modules, "v")
    modules["text_encoder"].config.save_pretrained(config_dir / "text_encoder")
    _save_config(vision, config_dir / "clip_vision" / "config.json")
    make_readable(path)
    make_readable(config_dir)
    return path
