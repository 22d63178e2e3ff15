"""Tiny random-weight SD3 / SD3.5 files under the names and key layouts ComfyUI users have.

- ``diffusion_models/sd3.5_medium.safetensors``: an SD3.5-medium-like MMDiT (qk-norm, dual-attention
  first block) in Stability AI's bare layout (``joint_blocks.N.x_block...``);
- ``diffusion_models/sd3_medium.safetensors``: an SD3-medium-like MMDiT (no qk-norm) under
  ``model.diffusion_model.``;
- ``checkpoints/sd3.5_large.safetensors``: an SD3.5-large-like MMDiT + the VAE (``first_stage_model.*``),
  no text encoders, as the file ComfyUI's SD3.5 example loads beside TripleCLIPLoader;
- ``checkpoints/sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors``: all in one, with
  ``text_encoders.clip_l/clip_g/t5xxl.transformer.*`` (float32 here; the real one's T5 is fp8);
- ``text_encoders/clip_g.safetensors``: a CLIP-G with projection, 1280 wide as the real one (the width
  the loaders tell CLIP-G by) but one layer deep; CLIP-L and T5 are FLUX's tiny files (tiny_models/flux.py);
- ``vae/sd3_vae.safetensors``: the 16-channel VAE with SD3's scale and shift.

Widths follow the real wiring: the MMDiT's text width is CLIP-L + CLIP-G (32 + 1280, wider than the tiny
T5's 32, so T5 is padded to it), its pooled width CLIP-L's 32 + CLIP-G's projected 32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models.common import (
    make_readable,
    quiet_transformers,
    save_safetensors,
    sidecar_config_dir,
    text_encoder_config,
    tiny_clip_vocab,
    write_tokenizer,
)
from tiny_models.flux import (
    CLIP_WIDTH,
    VAE_CONFIG,
    clip_l_state,
    t5_state,
    tiny_clip_l,
    tiny_t5,
    write_t5_tokenizer,
    write_tiny_clip_l,
    write_tiny_t5,
)

CLIP_G_WIDTH = 1280
CLIP_G_PROJECTION = 32
# FLUX's tiny VAE, narrower and without the mid-block attention (over 16k latent pixels at 1024 px it is
# most of a CPU decode); FLUX's tiny VAE keeps the attention, so its key conversion stays covered.
SD3_VAE_CONFIG = {
    **VAE_CONFIG,
    "block_out_channels": (4, 4, 8, 8),
    "norm_num_groups": 4,
    "mid_block_add_attention": False,
    "scaling_factor": 1.5305,
    "shift_factor": 0.0609,
}
VARIANTS = ("sd3_medium", "sd3.5_medium", "sd3.5_large")


def transformer_config(variant: str) -> dict[str, Any]:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return {
        "sample_size": 16,
        "patch_size": 8,  # the real models' is 2; 8 keeps a 1024-pixel image at 256 tokens, fast on a CPU
        "in_channels": 16,
        "out_channels": 16,
        "num_layers": 2,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": CLIP_WIDTH + CLIP_G_WIDTH,
        "caption_projection_dim": 32,
        "pooled_projection_dim": CLIP_WIDTH + CLIP_G_PROJECTION,
        "pos_embed_max_size": 16,  # a 1024-pixel image: 128 latent rows, 16 patches
        "dual_attention_layers": (0,) if variant == "sd3.5_medium" else (),
        "qk_norm": None if variant == "sd3_medium" else "rms_norm",
    }


def tiny_transformer(seed: int, variant: str) -> Any:
    import torch
    from diffusers import SD3Transformer2DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 10)
        return SD3Transformer2DModel(**transformer_config(variant))


def tiny_clip_g(seed: int) -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    vocab, _ = tiny_clip_vocab()
    config = {
        **text_encoder_config(len(vocab)),
        "hidden_size": CLIP_G_WIDTH,
        "num_attention_heads": 20,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "projection_dim": CLIP_G_PROJECTION,
        "hidden_act": "gelu",
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 11)
        return CLIPTextModelWithProjection(CLIPTextConfig(**config))


def tiny_vae(seed: int) -> Any:
    import torch
    from diffusers import AutoencoderKL

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 12)
        return AutoencoderKL(**SD3_VAE_CONFIG)


def transformer_sai_state(model: Any, prefix: str = "") -> dict[str, Any]:
    from nodes.sd3.layout import diffusers_to_sai

    return {prefix + k: v for k, v in diffusers_to_sai(model.state_dict()).items()}


def clip_g_state(model: Any, prefix: str = "") -> dict[str, Any]:
    # As ComfyUI's clip_g.safetensors: text_model.* and the projection as a Linear's text_projection.weight;
    # half precision, as the real file (and half the bytes).
    state = model.state_dict()
    return {prefix + k: v.half() for k, v in state.items() if not k.endswith("position_ids")}


def vae_state(model: Any, prefix: str = "") -> dict[str, Any]:
    from tiny_models.ldm_layout import vae_to_ldm

    return vae_to_ldm(model.state_dict(), SD3_VAE_CONFIG, prefix=prefix)


def _finish(*written: Path) -> None:
    for path in written:
        make_readable(path)


def write_tiny_sd3_diffusion_model(
    path: Path, *, seed: int = 0, variant: str = "sd3.5_medium", prefixed: bool = False
) -> Path:
    """The MMDiT alone in SAI's layout (bare, or under model.diffusion_model.) + NAME.config/transformer/."""
    path = Path(path)
    model = tiny_transformer(seed, variant)
    save_safetensors(transformer_sai_state(model, "model.diffusion_model." if prefixed else ""), path)
    model.save_config(sidecar_config_dir(path) / "transformer")
    _finish(path, sidecar_config_dir(path))
    return path


def write_tiny_clip_g(path: Path, *, seed: int = 0) -> Path:
    """clip_g.safetensors + NAME.config/ (config.json, tokenizer/)."""
    path = Path(path)
    model = tiny_clip_g(seed)
    save_safetensors(clip_g_state(model), path)
    config_dir = sidecar_config_dir(path)
    with quiet_transformers():
        model.config.save_pretrained(config_dir)
    vocab, merges = tiny_clip_vocab()
    write_tokenizer(config_dir / "tokenizer", vocab, merges)
    _finish(path, config_dir)
    return path


def write_tiny_sd3_vae(path: Path, *, seed: int = 0) -> Path:
    """sd3_vae.safetensors (ldm keys, no quant convs) + NAME.config/vae/config.json."""
    path = Path(path)
    model = tiny_vae(seed)
    save_safetensors(vae_state(model), path)
    model.save_config(sidecar_config_dir(path) / "vae")
    _finish(path, sidecar_config_dir(path))
    return path


def write_tiny_sd3_checkpoint(
    path: Path, *, seed: int = 0, variant: str = "sd3.5_large", text_encoders: bool = False
) -> Path:
    """model.diffusion_model.* + first_stage_model.* (+ text_encoders.clip_l/clip_g/t5xxl.transformer.*);
    the sidecar holds transformer/, vae/ (and text_encoder/, text_encoder_2/ with tokenizers); T5's
    tokenizer sits in NAME.tokenizer/ as for a T5 file."""
    path = Path(path)
    transformer, vae = tiny_transformer(seed, variant), tiny_vae(seed)
    state = {
        **transformer_sai_state(transformer, "model.diffusion_model."),
        **vae_state(vae, "first_stage_model."),
    }
    config_dir = sidecar_config_dir(path)
    written = [path, config_dir]
    vocab, merges = tiny_clip_vocab()
    if text_encoders:
        clip_l, clip_g = tiny_clip_l(seed), tiny_clip_g(seed)
        state |= clip_l_state(clip_l, "text_encoders.clip_l.transformer.")
        state |= clip_g_state(clip_g, "text_encoders.clip_g.transformer.")
        state |= t5_state(tiny_t5(seed), "text_encoders.t5xxl.transformer.")
        with quiet_transformers():
            clip_l.config.save_pretrained(config_dir / "text_encoder")
            clip_g.config.save_pretrained(config_dir / "text_encoder_2")
        for part in ("text_encoder", "text_encoder_2"):
            write_tokenizer(config_dir / part / "tokenizer", vocab, merges)
        write_t5_tokenizer(path.with_suffix(".tokenizer"))
        written.append(path.with_suffix(".tokenizer"))
    save_safetensors(state, path)
    transformer.save_config(config_dir / "transformer")
    vae.save_config(config_dir / "vae")
    _finish(*written)
    return path


def write_tiny_sd3_store(root: Path, *, seed: int = 0) -> None:
    """Every SD3 file under the names ComfyUI's SD3/SD3.5 examples load, in the model store at `root`
    (CLIP-L and T5 shared with FLUX: written only where missing)."""
    models = root / "diffusion_models"
    write_tiny_sd3_diffusion_model(models / "sd3.5_medium.safetensors", seed=seed, variant="sd3.5_medium")
    write_tiny_sd3_diffusion_model(
        models / "sd3_medium.safetensors", seed=seed, variant="sd3_medium", prefixed=True
    )
    checkpoints = root / "checkpoints"
    write_tiny_sd3_checkpoint(checkpoints / "sd3.5_large.safetensors", seed=seed, variant="sd3.5_large")
    write_tiny_sd3_checkpoint(
        checkpoints / "sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors",
        seed=seed,
        variant="sd3.5_medium",
        text_encoders=True,
    )
    encoders = root / "text_encoders"
    write_tiny_clip_g(encoders / "clip_g.safetensors", seed=seed)
    if not (encoders / "clip_l.safetensors").exists():
        write_tiny_clip_l(encoders / "clip_l.safetensors", seed=seed)
    if not (encoders / "t5xxl_fp16.safetensors").exists():
        write_tiny_t5(encoders / "t5xxl_fp16.safetensors", seed=seed)
    write_tiny_sd3_vae(root / "vae" / "sd3_vae.safetensors", seed=seed)
