"""Tiny random-weight Stable Diffusion 1.x checkpoints for tests and demos.

``write_tiny_sd15_diffusers`` writes a folder in the real diffusers layout
(``model_index.json`` plus ``unet/``, ``vae/``, ``text_encoder/``,
``tokenizer/`` and ``scheduler/``, weights as ``.safetensors``) so code under
test goes through the genuine ``from_pretrained`` loading path with
``local_files_only=True``. The weights are random: images come out as noise.

Everything is generated locally; nothing is downloaded. Django-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.diffusion.clip_vocab import bytes_to_unicode

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

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MAX_LENGTH = 77

#: A handful of merges on top of the byte-level alphabet (enough to exercise BPE).
_MERGES: tuple[tuple[str, str], ...] = (
    ("t", "h"),
    ("th", "e</w>"),
    ("a", "n"),
    ("an", "d</w>"),
    ("i", "n"),
    ("in", "g</w>"),
    ("o", "f</w>"),
    ("c", "a"),
    ("ca", "t</w>"),
    ("p", "h"),
    ("ph", "o"),
    ("pho", "t"),
    ("phot", "o</w>"),
)

_README = """\
Tiny random-weight Stable Diffusion 1.x checkpoint (diffusers folder format).

Written by gpu_worker.tiny_checkpoints.write_tiny_sd15_diffusers(seed={seed})
for tests and demos. The weights are RANDOM: every prompt produces a noise
image. It loads with StableDiffusionPipeline.from_pretrained(path,
local_files_only=True) or component by component (unet, vae, text_encoder,
tokenizer, scheduler subfolders). Do not use it for anything else.
"""


def tiny_clip_vocab() -> tuple[dict[str, int], list[str]]:
    """Vocab and merges laid out like CLIP's: bytes, bytes + ``</w>``, merges, specials."""
    alphabet = bytes_to_unicode()
    tokens = [*alphabet, *(ch + "</w>" for ch in alphabet)]
    tokens += ["".join(pair) for pair in _MERGES]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    assert len(vocab) == len(tokens), "duplicate token in tiny vocab"
    merges = [f"{a} {b}" for a, b in _MERGES]
    return vocab, merges


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )


def write_tokenizer(folder: Path, vocab: dict[str, int], merges: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "vocab.json", vocab)
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    specials = {
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "pad_token": EOS_TOKEN,
        "unk_token": EOS_TOKEN,
    }
    write_json(folder / "special_tokens_map.json", specials)
    config = {
        **specials,
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_LENGTH,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
    }
    write_json(folder / "tokenizer_config.json", config)


def text_encoder_config(vocab_size: int) -> dict[str, Any]:
    """Keyword arguments for the tiny ``CLIPTextConfig``."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": MAX_LENGTH,
        "projection_dim": 32,
        "hidden_act": "quick_gelu",
        "bos_token_id": vocab_size - 2,
        "eos_token_id": vocab_size - 1,
        "pad_token_id": vocab_size - 1,
    }


def _tiny_modules(seed: int) -> tuple[Any, Any, Any]:
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
    from transformers.utils import logging as hf_logging

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_clip_vocab()
    unet, vae, text_encoder = _tiny_modules(seed)

    unet.save_pretrained(path / "unet", safe_serialization=True)
    vae.save_pretrained(path / "vae", safe_serialization=True)
    bars_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers shows a "Writing model shards" bar
    try:
        text_encoder.save_pretrained(path / "text_encoder", safe_serialization=True)
    finally:
        if bars_on:
            hf_logging.enable_progress_bar()
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


def make_readable(path: Path) -> None:
    for file in [path, *path.rglob("*")]:
        if file.is_file():
            file.chmod(0o644)  # safetensors writes 0600; keep it readable by others


def sidecar_config_dir(path: Path) -> Path:
    """Where a single file's own configs live: ``name.safetensors`` -> ``name.config/``."""
    return path.with_suffix(".config")


def write_tiny_sd15_single_file(path: Path, *, seed: int = 0) -> Path:
    """Write the same weights as ``write_tiny_sd15_diffusers(seed=seed)`` as ONE ``.safetensors``
    in the original Stable Diffusion key layout (``model.diffusion_model.*``, ``first_stage_model.*``,
    ``cond_stage_model.transformer.*``), the format of ComfyUI's ``models/checkpoints/``.

    The file holds weights only, so its tiny architecture goes in a sidecar ``name.config/`` folder
    (component ``config.json`` files, scheduler and tokenizer), the same layout as the SD1.5 configs
    that ship with the loader (``nodes/diffusion/configs/sd15``) for full-size files. Returns ``path``.
    """
    from diffusers import PNDMScheduler
    from safetensors.torch import save_file

    from gpu_worker.ldm_layout import clip_to_ldm, unet_to_ldm, vae_to_ldm

    path = Path(path)
    unet, vae, text_encoder = _tiny_modules(seed)
    state = {
        **unet_to_ldm(unet.state_dict(), UNET_CONFIG),
        **vae_to_ldm(vae.state_dict(), VAE_CONFIG),
        **clip_to_ldm(text_encoder.state_dict()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    config_dir = sidecar_config_dir(path)
    unet.save_config(config_dir / "unet")
    vae.save_config(config_dir / "vae")
    text_encoder.config.save_pretrained(config_dir / "text_encoder")
    PNDMScheduler(**SCHEDULER_CONFIG).save_pretrained(config_dir / "scheduler")
    write_tokenizer(config_dir / "tokenizer", *tiny_clip_vocab())
    make_readable(path)
    make_readable(config_dir)
    return path


def write_tiny_vae(path: Path, *, seed: int = 0, single_file: bool) -> Path:
    """The tiny VAE of ``seed`` for ``models/vae/``: a diffusers folder (``config.json`` and weights)
    or, with ``single_file``, one ``.safetensors`` in the original VAE layout (``encoder.*``,
    ``decoder.*``, no ``first_stage_model.`` prefix) with its config in ``name.config/vae/``.
    """
    from safetensors.torch import save_file

    from gpu_worker.ldm_layout import vae_to_ldm

    path = Path(path)
    _, vae, _ = _tiny_modules(seed)
    if single_file:
        path.parent.mkdir(parents=True, exist_ok=True)
        state = vae_to_ldm(vae.state_dict(), VAE_CONFIG, prefix="")
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
        vae.save_config(sidecar_config_dir(path) / "vae")
        make_readable(sidecar_config_dir(path))
    else:
        vae.save_pretrained(path, safe_serialization=True)
    make_readable(path)
    return path
