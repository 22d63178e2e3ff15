"""Tiny random-weight SD 2.x checkpoints (512 eps, 768 v-prediction) in the two formats users have.

``write_tiny_sd2_single_file`` writes ONE ``.safetensors`` in the original layout of
``v2-1_512-ema-pruned`` / ``v2-1_768-ema-pruned`` (``model.diffusion_model.*``,
``first_stage_model.*``, ``cond_stage_model.model.*``: OpenCLIP's text tower with fused q/k/v and
a ``text_projection``, plus the schedule buffers real files carry), its tiny architecture in a
sidecar ``NAME.config/``. ``write_tiny_sd2_diffusers`` writes the same weights as a diffusers
folder, whose text encoder stops one layer early as stabilityai's does (SD 2.x reads the
penultimate layer). SD 2.x's rules at a tiny size: linear projections in the transformers, a
head count per level, gelu text encoder padding with "!". A v model's last output transformer
norm has the spread ComfyUI's v-prediction test looks for. Weights are random: images are noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiny_models.common import (
    make_readable,
    quiet_transformers,
    save_safetensors,
    sidecar_config_dir,
    text_encoder_config,
    tiny_clip_vocab,
    write_json,
    write_tokenizer,
)
from tiny_models.sd15 import VAE_CONFIG

TEXT_LAYERS = 3  # the single file's; the diffusers folder keeps TEXT_LAYERS - 1


def scheduler_config(prediction: str) -> dict[str, Any]:
    return {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "prediction_type": "v_prediction" if prediction == "v" else "epsilon",
        "clip_sample": False,
        "set_alpha_to_one": False,
        "steps_offset": 1,
    }


def sd2_text_config(vocab_size: int, layers: int = TEXT_LAYERS) -> dict[str, Any]:
    return {
        **text_encoder_config(vocab_size),
        "hidden_size": 48,
        "intermediate_size": 64,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "projection_dim": 48,
        "hidden_act": "gelu",
        "pad_token_id": 0,
    }


def unet_config(*, sample_size: int = 8, class_embed_dim: int | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "sample_size": sample_size,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": (32, 32, 64),
        "layers_per_block": 1,
        # Attention on the deepest level only keeps ComfyUI's 768 x 768 examples fast on a CPU
        # (at a quarter of the latent's side: 576 tokens, not 9216).
        "down_block_types": ("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        "attention_head_dim": (2, 2, 4),  # per level, as SD 2.x's [5, 10, 20, 20]
        "use_linear_projection": True,
        "cross_attention_dim": 48,
        "norm_num_groups": 8,
    }
    if class_embed_dim is not None:  # unCLIP: the image embedding with its noise level
        config.update(class_embed_type="projection", projection_class_embeddings_input_dim=class_embed_dim)
    return config


def tiny_sd2_modules(seed: int, prediction: str, *, class_embed_dim: int | None = None) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    vocab, _ = tiny_clip_vocab()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**unet_config(class_embed_dim=class_embed_dim))
        if prediction == "v":
            # Trained v models spread this norm's bias (ComfyUI tells v from eps by it).
            last = [block for block in unet.up_blocks if getattr(block, "attentions", None)][-1]
            norm = last.attentions[-1].transformer_blocks[0].norm1
            norm.bias.data.normal_(0.0, 0.2)
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**VAE_CONFIG)
        torch.manual_seed(seed + 2)
        text_encoder = CLIPTextModel(CLIPTextConfig(**sd2_text_config(len(vocab))))
        torch.manual_seed(seed + 3)
        width = text_encoder.config.hidden_size
        text_projection = torch.randn(width, width) * width**-0.5
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "text_projection": text_projection}


def open_clip_text_state(text_encoder: Any, text_projection: Any, prefix: str) -> dict[str, Any]:
    """A CLIPTextModel's weights in OpenCLIP's text-tower layout under `prefix`."""
    import torch

    from tiny_models.sgm_layout import OPEN_CLIP_PREFIX, open_clip_to_sgm

    state = dict(text_encoder.state_dict())
    # open_clip_to_sgm takes a model with a projection (a Linear: the transpose of OpenCLIP's matrix).
    state["text_projection.weight"] = text_projection.T.contiguous()
    out = {prefix + key[len(OPEN_CLIP_PREFIX) :]: value for key, value in open_clip_to_sgm(state).items()}
    out[prefix + "logit_scale"] = torch.tensor(4.6052)
    return out


def unet_state(unet: Any) -> dict[str, Any]:
    """The UNet's weights in the ldm layout, unCLIP's class embedding as ``label_emb.0``."""
    from tiny_models.ldm_layout import UNET_PREFIX, unet_to_ldm

    state = unet.state_dict()
    out = unet_to_ldm(
        {k: v for k, v in state.items() if not k.startswith("class_embedding.")}, dict(unet.config)
    )
    for ours, theirs in (
        ("class_embedding.linear_1.", "label_emb.0.0."),
        ("class_embedding.linear_2.", "label_emb.0.2."),
    ):
        for key, value in state.items():
            if key.startswith(ours):
                out[UNET_PREFIX + theirs + key[len(ours) :]] = value
    return out


def sd2_ldm_state(modules: dict[str, Any], prediction: str) -> dict[str, Any]:
    from tiny_models.ldm_layout import ldm_schedule_buffers, vae_to_ldm

    return {
        **unet_state(modules["unet"]),
        **vae_to_ldm(modules["vae"].state_dict(), VAE_CONFIG),
        **open_clip_text_state(
            modules["text_encoder"], modules["text_projection"], "cond_stage_model.model."
        ),
        **ldm_schedule_buffers(scheduler_config(prediction)),
    }


def write_sd2_configs(folder: Path, modules: dict[str, Any], prediction: str) -> None:
    """Component configs, scheduler and tokenizer (padding with "!") in the diffusers folder layout."""
    from diffusers import DDIMScheduler

    modules["unet"].save_config(folder / "unet")
    modules["vae"].save_config(folder / "vae")
    DDIMScheduler(**scheduler_config(prediction)).save_pretrained(folder / "scheduler")
    vocab, merges = tiny_clip_vocab()
    write_tokenizer(folder / "tokenizer", vocab, merges)
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        file = folder / "tokenizer" / name
        write_json(file, {**json.loads(file.read_text(encoding="utf-8")), "pad_token": "!"})


def write_tiny_sd2_single_file(path: Path, *, seed: int = 0, prediction: str = "eps") -> Path:
    path = Path(path)
    modules = tiny_sd2_modules(seed, prediction)
    save_safetensors(sd2_ldm_state(modules, prediction), path)
    config_dir = sidecar_config_dir(path)
    write_sd2_configs(config_dir, modules, prediction)
    modules["text_encoder"].config.save_pretrained(config_dir / "text_encoder")
    make_readable(path)
    make_readable(config_dir)
    return path


def write_tiny_sd2_diffusers(path: Path, *, seed: int = 0, prediction: str = "eps") -> Path:
    """The weights of the single file of `seed` as a diffusers folder (text encoder one layer short)."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    modules = tiny_sd2_modules(seed, prediction)
    full = modules["text_encoder"]
    short = CLIPTextModel(CLIPTextConfig(**{**full.config.to_dict(), "num_hidden_layers": TEXT_LAYERS - 1}))
    short.load_state_dict(full.state_dict(), strict=False)  # the first layers, embeddings, final norm
    modules["unet"].save_pretrained(path / "unet", safe_serialization=True)
    modules["vae"].save_pretrained(path / "vae", safe_serialization=True)
    with quiet_transformers():
        short.save_pretrained(path / "text_encoder", safe_serialization=True)
    write_sd2_configs(path, modules, prediction)
    write_json(
        path / "model_index.json",
        {
            "_class_name": "StableDiffusionPipeline",
            "_diffusers_version": diffusers.__version__,
            "feature_extractor": [None, None],
            "requires_safety_checker": False,
            "safety_checker": [None, None],
            "scheduler": ["diffusers", "DDIMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
    )
    make_readable(path)
    return path
