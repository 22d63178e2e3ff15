"""Tiny random-weight Stable Diffusion 1.x checkpoints for tests and demos.

``write_tiny_sd15_diffusers`` writes a folder in the real diffusers layout
(``model_index.json`` plus ``unet/``, ``vae/``, ``text_encoder/``,
``tokenizer/`` and ``scheduler/``, weights as ``.safetensors``) so code under
test goes through the genuine ``from_pretrained`` loading path with
``local_files_only=True``. ``write_tiny_sd15_single_file`` writes the same
weights as ONE ``.safetensors`` in the original (CompVis/ldm) layout, with the
non-weight keys real files carry, and ``write_tiny_vae`` the VAE on its own.
The weights are random: images come out as noise.

Everything is generated locally; nothing is downloaded. Django-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models.common import (
    make_readable,
    quiet_transformers,
    save_safetensors,
    save_weights,
    sidecar_config_dir,
    text_encoder_config,
    tiny_clip_vocab,
    write_json,
    write_tokenizer,
)

#: SD1.5's own noise schedule (``scheduler/scheduler_config.json``).
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "trained_betas": None,
    "skip_prk_steps": True,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}

#: Two-level UNet: latents need even height and width (any size >= 2).
UNET_CONFIG: dict[str, Any] = {
    "sample_size": 8,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 2,  # diffusers quirk: this is the head count (SD1.5 uses 8)
    "norm_num_groups": 8,
}

#: Four blocks, so the VAE downsamples by 8 like the real one.
VAE_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": (8, 8, 16, 16),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "scaling_factor": 0.18215,
}

_README = """\
Tiny random-weight Stable Diffusion 1.x checkpoint (diffusers folder format).

Written by tiny_models.sd15.write_tiny_sd15_diffusers(seed={seed}) (or
`python -m tiny_models sd15 diffusers PATH`) for tests and demos. The weights
are RANDOM: every prompt produces a noise image. It loads with
StableDiffusionPipeline.from_pretrained(path, local_files_only=True) or
component by component (unet, vae, text_encoder, tokenizer, scheduler
subfolders). Do not use it for anything else.
"""


def tiny_sd15_modules(seed: int) -> tuple[Any, Any, Any]:
    """The tiny random UNet, VAE and CLIP text encoder for ``seed`` (same seed, same weights)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    vocab, _ = tiny_clip_vocab()
    # Fork the RNG so callers' global torch seed is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**UNET_CONFIG)
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**VAE_CONFIG)
        torch.manual_seed(seed + 2)
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_encoder_config(len(vocab))))
    return unet, vae, text_encoder


def write_tiny_sd15_diffusers(path: Path, *, seed: int = 0) -> Path:
    """Write a tiny random SD1.5-shaped diffusers checkpoint into ``path``; return ``path``.

    Same ``seed`` gives byte-identical files. Existing files in ``path`` are overwritten.
    """
    import diffusers
    from diffusers import PNDMScheduler

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_clip_vocab()
    unet, vae, text_encoder = tiny_sd15_modules(seed)

    unet.save_pretrained(path / "unet", safe_serialization=True)
    vae.save_pretrained(path / "vae", safe_serialization=True)
    with quiet_transformers():
        text_encoder.save_pretrained(path / "text_encoder", safe_serialization=True)
    PNDMScheduler(**SCHEDULER_CONFIG).save_pretrained(path / "scheduler")
    write_tokenizer(path / "tokenizer", vocab, merges)

    model_index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    write_json(path / "model_index.json", model_index)
    (path / "README.txt").write_text(_README.format(seed=seed), encoding="utf-8")
    make_readable(path)
    return path


def write_tiny_sd15_single_file(path: Path, *, seed: int = 0) -> Path:
    """Write the same weights as ``write_tiny_sd15_diffusers(seed=seed)`` as ONE ``.safetensors``
    in the original Stable Diffusion key layout (``model.diffusion_model.*``, ``first_stage_model.*``,
    ``cond_stage_model.transformer.*``), the format of ComfyUI's ``models/checkpoints/``.

    Like a real file it also holds the training leftovers that are not weights: the noise schedule
    buffers, ``model_ema.decay``/``num_updates`` and CLIP's int64 ``position_ids``
    (``ldm_layout.sd1_non_weight_keys``). Its tiny architecture goes in a sidecar ``name.config/``
    folder (component ``config.json`` files, scheduler and tokenizer), the same layout as the SD1.5
    configs that ship with the loader (``nodes/diffusion/configs/sd15``) for full-size files.
    Returns ``path``.
    """
    from diffusers import PNDMScheduler

    path = Path(path)
    unet, vae, text_encoder = tiny_sd15_modules(seed)
    save_sd15_single_file(path, unet, vae, text_encoder)
    config_dir = sidecar_config_dir(path)
    unet.save_config(config_dir / "unet")
    vae.save_config(config_dir / "vae")
    text_encoder.config.save_pretrained(config_dir / "text_encoder")
    PNDMScheduler(**SCHEDULER_CONFIG).save_pretrained(config_dir / "scheduler")
    write_tokenizer(config_dir / "tokenizer", *tiny_clip_vocab())
    make_readable(path)
    make_readable(config_dir)
    return path


def save_sd15_single_file(path: Path, unet: Any, vae: Any, text_encoder: Any) -> None:
    """The three modules as ONE file in the original SD1 layout, the format by `path`'s suffix."""
    from tiny_models.ldm_layout import clip_to_ldm, sd1_non_weight_keys, unet_to_ldm, vae_to_ldm

    state = {
        **unet_to_ldm(unet.state_dict(), dict(unet.config)),
        **vae_to_ldm(vae.state_dict(), dict(vae.config)),
        **clip_to_ldm(text_encoder.state_dict()),
        **sd1_non_weight_keys(SCHEDULER_CONFIG, text_encoder.config.max_position_embeddings),
    }
    save_weights(state, path)


def write_full_size_sd15_single_file(path: Path, *, seed: int = 0) -> Path:
    """A REAL-SIZE random-weight SD1.5 single file (about 4.3 GB in float32) of the architecture in the
    SD1.5 configs the loader ships, without a sidecar: for memory benchmarks, never for tests."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from nodes.diffusion.single_file import DEFAULT_CONFIG_DIR

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(DEFAULT_CONFIG_DIR / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(DEFAULT_CONFIG_DIR / "vae"))
        config = CLIPTextConfig.from_pretrained(DEFAULT_CONFIG_DIR / "text_encoder")
        text_encoder = CLIPTextModel(config)
        save_sd15_single_file(Path(path), unet, vae, text_encoder)
    make_readable(Path(path))
    return Path(path)


def write_tiny_vae(path: Path, *, seed: int = 0, single_file: bool) -> Path:
    """The tiny VAE of ``seed`` for ``models/vae/``: a diffusers folder (``config.json`` and weights)
    or, with ``single_file``, one ``.safetensors`` in the original VAE layout (``encoder.*``,
    ``decoder.*``, no ``first_stage_model.`` prefix) with its config in ``name.config/vae/``.
    """
    from tiny_models.ldm_layout import vae_to_ldm

    path = Path(path)
    _, vae, _ = tiny_sd15_modules(seed)
    if single_file:
        save_safetensors(vae_to_ldm(vae.state_dict(), VAE_CONFIG, prefix=""), path)
        vae.save_config(sidecar_config_dir(path) / "vae")
        make_readable(sidecar_config_dir(path))
    else:
        vae.save_pretrained(path, safe_serialization=True)
    make_readable(path)
    return path
