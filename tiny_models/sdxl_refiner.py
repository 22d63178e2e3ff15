"""A tiny random-weight SDXL refiner: ONE ``.safetensors`` in the layout of ``sd_xl_refiner_1.0``, or a
diffusers folder as stabilityai/stable-diffusion-xl-refiner-1.0 (``write_tiny_sdxl_refiner_diffusers``).

Keys as the released file has them: ``model.diffusion_model.*`` (SGM UNet names, ``label_emb`` for
the pooled-text + size/score embedding), ``first_stage_model.*`` and ``conditioner.embedders.0.model.*``
(OpenCLIP bigG's text tower with fused q/k/v; no CLIP-L). The refiner's rules at a tiny size: the
UNet's context is bigG's hidden width, its added input bigG's projection (as wide as the hidden
state, as in the real bigG) plus five embedded numbers. Architecture in the sidecar ``NAME.config/``.
Weights are random: images are noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models.common import (
    make_readable,
    quiet_transformers,
    save_safetensors,
    sidecar_config_dir,
    tiny_clip_vocab,
    write_json,
)
from tiny_models.sdxl import (
    SDXL_VAE_CONFIG,
    TIME_EMBED_DIM,
    _write_scheduler,
    _write_tokenizers,
    text_encoder_2_config,
)

PREFIX = "conditioner.embedders.0.model."


def refiner_text_config(vocab_size: int) -> dict[str, Any]:
    config = text_encoder_2_config(vocab_size)
    return {**config, "projection_dim": config["hidden_size"]}


def refiner_unet_config(vocab_size: int) -> dict[str, Any]:
    text = refiner_text_config(vocab_size)
    return {
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": (32, 64),
        "layers_per_block": 1,
        "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
        "transformer_layers_per_block": (1, 2),
        "attention_head_dim": (2, 4),
        "use_linear_projection": True,
        "cross_attention_dim": text["hidden_size"],
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": TIME_EMBED_DIM,
        "projection_class_embeddings_input_dim": text["projection_dim"] + 5 * TIME_EMBED_DIM,
        "norm_num_groups": 8,
    }


def tiny_refiner_modules(seed: int) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    vocab, _ = tiny_clip_vocab()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**refiner_unet_config(len(vocab)))
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**SDXL_VAE_CONFIG)
        torch.manual_seed(seed + 3)
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**refiner_text_config(len(vocab))))
    return {"unet": unet, "vae": vae, "text_encoder_2": text_encoder_2}


def refiner_sgm_state(modules: dict[str, Any]) -> dict[str, Any]:
    import torch

    from tiny_models.sgm_layout import OPEN_CLIP_PREFIX, open_clip_to_sgm, sdxl_unet_to_sgm, sdxl_vae_to_sgm

    unet, vae = modules["unet"], modules["vae"]
    text = open_clip_to_sgm(modules["text_encoder_2"].state_dict())
    return {
        **sdxl_unet_to_sgm(unet.state_dict(), dict(unet.config)),
        **sdxl_vae_to_sgm(vae.state_dict(), dict(vae.config)),
        **{PREFIX + key[len(OPEN_CLIP_PREFIX) :]: value for key, value in text.items()},
        PREFIX + "logit_scale": torch.tensor(4.6052),
    }


def write_tiny_sdxl_refiner_single_file(path: Path, *, seed: int = 0) -> Path:
    path = Path(path)
    modules = tiny_refiner_modules(seed)
    save_safetensors(refiner_sgm_state(modules), path)
    config_dir = sidecar_config_dir(path)
    modules["unet"].save_config(config_dir / "unet")
    modules["vae"].save_config(config_dir / "vae")
    modules["text_encoder_2"].config.save_pretrained(config_dir / "text_encoder_2")
    _write_scheduler(config_dir)
    _write_tokenizers(config_dir)
    make_readable(path)
    make_readable(config_dir)
    return path


def write_tiny_sdxl_refiner_diffusers(path: Path, *, seed: int = 0) -> Path:
    """The same weights in the layout of stabilityai/stable-diffusion-xl-refiner-1.0 (no text_encoder/)."""
    import shutil
    import tempfile

    import diffusers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    modules = tiny_refiner_modules(seed)
    with quiet_transformers():
        for name, module in modules.items():
            module.save_pretrained(path / name, safe_serialization=True)
    _write_scheduler(path)
    with tempfile.TemporaryDirectory() as scratch:
        _write_tokenizers(Path(scratch))
        shutil.copytree(Path(scratch) / "tokenizer_2", path / "tokenizer_2", dirs_exist_ok=True)
    write_json(
        path / "model_index.json",
        {
            "_class_name": "StableDiffusionXLImg2ImgPipeline",
            "_diffusers_version": diffusers.__version__,
            "force_zeros_for_empty_prompt": False,
            "requires_aesthetics_score": True,
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": [None, None],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": [None, None],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
    )
    make_readable(path)
    return path
