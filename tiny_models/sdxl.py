"""Tiny random-weight SDXL checkpoints for tests and demos, in the two formats users have.

``write_tiny_sdxl_diffusers`` writes the diffusers layout of
stabilityai/stable-diffusion-xl-base-1.0 (``unet/``, ``vae/``, ``text_encoder/``
CLIPTextModel, ``text_encoder_2/`` CLIPTextModelWithProjection, ``tokenizer/``,
``tokenizer_2/``, ``scheduler/``); ``write_tiny_sdxl_single_file`` writes the
same weights as ONE ``.safetensors`` in the original SGM key layout (with the
non-weight keys the released files carry), its tiny architecture in a sidecar
``NAME.config/``. Both load through the real
loaders. The shapes follow SDXL's rules at a tiny size: the UNet's
cross-attention width is CLIP-L's plus bigG's hidden size, and its
``projection_class_embeddings_input_dim`` is bigG's projection plus six size
embeddings. The two encoders differ in width, as the real ones do (diffusers'
converter tells them apart by it). Weights are random: images are noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiny_models.common import (
    make_readable,
    quiet_transformers,
    save_weights,
    sidecar_config_dir,
    text_encoder_config,
    tiny_clip_vocab,
    write_json,
    write_tokenizer,
)
from tiny_models.sd15 import VAE_CONFIG

#: SDXL's noise schedule (the base model's scheduler/scheduler_config.json).
SDXL_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "steps_offset": 1,
    "interpolation_type": "linear",
}

TIME_EMBED_DIM = 8


def text_encoder_2_config(vocab_size: int) -> dict[str, Any]:
    """The tiny bigG stand-in: wider than the tiny CLIP-L (32), with a projection, gelu like OpenCLIP."""
    return {
        **text_encoder_config(vocab_size),
        "hidden_size": 64,
        "intermediate_size": 80,
        "num_attention_heads": 4,
        # Unlike the tiny SD1 CLIP's pooled width (32), so mixing up the two fails loudly.
        "projection_dim": 24,
        "hidden_act": "gelu",
    }


def unet_config(vocab_size: int) -> dict[str, Any]:
    te1, te2 = text_encoder_config(vocab_size), text_encoder_2_config(vocab_size)
    return {
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": (32, 64),
        "layers_per_block": 1,
        # SDXL's first level has no attention; the deeper one stacks transformer layers.
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "transformer_layers_per_block": (1, 2),
        "attention_head_dim": (2, 4),
        "use_linear_projection": True,
        "cross_attention_dim": te1["hidden_size"] + te2["hidden_size"],
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": TIME_EMBED_DIM,
        "projection_class_embeddings_input_dim": te2["projection_dim"] + 6 * TIME_EMBED_DIM,
        "norm_num_groups": 8,
    }


#: SDXL's VAE has SD1's architecture with its own latent scale.
SDXL_VAE_CONFIG: dict[str, Any] = {**VAE_CONFIG, "scaling_factor": 0.13025}


def tiny_sdxl_modules(seed: int) -> dict[str, Any]:
    """unet, vae, text_encoder, text_encoder_2 for `seed` (same seed, same weights)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    vocab, _ = tiny_clip_vocab()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**unet_config(len(vocab)))
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**SDXL_VAE_CONFIG)
        torch.manual_seed(seed + 2)
        te1 = CLIPTextModel(CLIPTextConfig(**text_encoder_config(len(vocab))))
        torch.manual_seed(seed + 3)
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_encoder_2_config(len(vocab))))
    return {"unet": unet, "vae": vae, "text_encoder": te1, "text_encoder_2": te2}


def _write_tokenizers(folder: Path) -> None:
    vocab, merges = tiny_clip_vocab()
    write_tokenizer(folder / "tokenizer", vocab, merges)
    write_tokenizer(folder / "tokenizer_2", vocab, merges)
    # SDXL's second tokenizer pads with "!" instead of the end token; keep that difference.
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        file = folder / "tokenizer_2" / name
        write_json(file, {**json.loads(file.read_text(encoding="utf-8")), "pad_token": "!"})


def _write_scheduler(folder: Path) -> None:
    from diffusers import EulerDiscreteScheduler

    EulerDiscreteScheduler(**SDXL_SCHEDULER_CONFIG).save_pretrained(folder / "scheduler")


def write_tiny_sdxl_diffusers(path: Path, *, seed: int = 0) -> Path:
    """A tiny random SDXL in the diffusers folder layout at `path`; returns `path`."""
    import diffusers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    modules = tiny_sdxl_modules(seed)
    with quiet_transformers():
        for name, module in modules.items():
            module.save_pretrained(path / name, safe_serialization=True)
    _write_scheduler(path)
    _write_tokenizers(path)
    write_json(
        path / "model_index.json",
        {
            "_class_name": "StableDiffusionXLPipeline",
            "_diffusers_version": diffusers.__version__,
            "force_zeros_for_empty_prompt": True,
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
    )
    make_readable(path)
    return path


def sdxl_sgm_state(modules: dict[str, Any]) -> dict[str, Any]:
    """The modules' weights under the original SDXL single-file key names, with the non-weight keys
    (CLIP-L's int64 ``position_ids``, bigG's ``logit_scale``) that the released SDXL files carry."""
    from tiny_models.sgm_layout import (
        clip_l_to_sgm,
        open_clip_to_sgm,
        sdxl_non_weight_keys,
        sdxl_unet_to_sgm,
        sdxl_vae_to_sgm,
    )

    unet, vae, te1 = modules["unet"], modules["vae"], modules["text_encoder"]
    return {
        **sdxl_unet_to_sgm(unet.state_dict(), dict(unet.config)),
        **sdxl_vae_to_sgm(vae.state_dict(), dict(vae.config)),
        **clip_l_to_sgm(te1.state_dict()),
        **open_clip_to_sgm(modules["text_encoder_2"].state_dict()),
        **sdxl_non_weight_keys(te1.config.max_position_embeddings),
    }


def write_tiny_sdxl_single_file(path: Path, *, seed: int = 0) -> Path:
    """The weights of ``write_tiny_sdxl_diffusers(seed=seed)`` as one ``.safetensors`` in the SGM layout
    (``model.diffusion_model.*``, ``first_stage_model.*``, ``conditioner.embedders.0.transformer.*``,
    ``conditioner.embedders.1.model.*``), plus the sidecar ``NAME.config/`` (tiny configs, tokenizers).
    """
    path = Path(path)
    modules = tiny_sdxl_modules(seed)
    save_weights(sdxl_sgm_state(modules), path)
    config_dir = sidecar_config_dir(path)
    modules["unet"].save_config(config_dir / "unet")
    modules["vae"].save_config(config_dir / "vae")
    modules["text_encoder"].config.save_pretrained(config_dir / "text_encoder")
    modules["text_encoder_2"].config.save_pretrained(config_dir / "text_encoder_2")
    _write_scheduler(config_dir)
    _write_tokenizers(config_dir)
    make_readable(path)
    make_readable(config_dir)
    return path
