"""Tiny random-weight Wan 2.1 files under the names and key layouts ComfyUI users have.

- ``diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors``: the text-to-video transformer in the original
  layout (``blocks.N.self_attn.q``, ``patch_embedding``, ``head.head`` ...), 2 blocks, width 24;
- ``diffusion_models/wan2.1_i2v_480p_14B_fp16.safetensors``: the image-to-video form (36 input channels:
  latent, mask, start image; ``img_emb.*`` and ``cross_attn.k_img``/``v_img`` for the tiny CLIP vision
  tower's tokens, as the 14B I2V takes clip_vision_h's);
- ``text_encoders/umt5_xxl_fp16.safetensors``: UMT5's HF keys (every block with its relative bias), with a
  tiny SentencePiece-style tokenizer in ``umt5_xxl_fp16.tokenizer/``; the same in ComfyUI's scaled fp8 form
  as ``umt5_xxl_fp8_e4m3fn_scaled.safetensors`` (the name ComfyUI's Wan examples load);
- ``vae/wan_2.1_vae.safetensors``: the causal 3-D VAE in the original layout (encoder.conv1, middle.N ...);
- ``clip_vision/clip_vision_h.safetensors``: a tiny CLIP vision tower for the I2V example's image tokens.

Each file's tiny architecture sits in a sidecar ``NAME.config/``; weights are random: videos are noise.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tiny_models.common import make_readable, save_safetensors, sidecar_config_dir
from tiny_models.flux import t5_vocab, write_t5_tokenizer

TEXT_WIDTH = 32
WIDTH = 24  # 2 heads x 12
CLIP_VISION_WIDTH = 32  # the tiny CLIP vision towers' (tiny_models/clip_vision.py): the I2V image tokens
VAE_RES_BLOCKS = 2  # the real count: the original decoder layout's numbering depends on it


def transformer_config(*, i2v: bool) -> dict[str, Any]:
    return {
        "patch_size": (1, 2, 2),
        "num_attention_heads": 2,
        "attention_head_dim": 12,  # rotary split 4 (time) + 4 + 4 (height, width)
        "in_channels": 36 if i2v else 16,
        "out_channels": 16,
        # 14B I2V projects CLIP vision's penultimate tokens (clip_vision_h's 1280) into its cross-attention.
        "image_dim": CLIP_VISION_WIDTH if i2v else None,
        "added_kv_proj_dim": WIDTH if i2v else None,
        "text_dim": TEXT_WIDTH,
        "freq_dim": 16,
        "ffn_dim": 32,
        "num_layers": 2,
        "rope_max_seq_len": 64,
    }


VAE_CONFIG: dict[str, Any] = {
    "base_dim": 8,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": VAE_RES_BLOCKS,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
}


def _seeded(seed: int, build: Any) -> Any:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def write_tiny_wan_diffusion_model(path: Path, *, seed: int = 0, i2v: bool = False) -> Path:
    from diffusers import WanTransformer3DModel

    from nodes.wan.layout import diffusers_to_original

    path = Path(path)
    model = _seeded(seed + 10, lambda: WanTransformer3DModel(**transformer_config(i2v=i2v)))
    save_safetensors(diffusers_to_original(model.state_dict()), path)
    model.save_config(sidecar_config_dir(path) / "transformer")
    make_readable(path)
    make_readable(sidecar_config_dir(path))
    return path


def write_tiny_umt5(path: Path, *, seed: int = 0) -> Path:
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(
        vocab_size=len(t5_vocab()),
        d_model=TEXT_WIDTH,
        d_kv=8,
        num_heads=4,
        d_ff=40,
        num_layers=2,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
    )
    path = Path(path)
    model = _seeded(seed + 11, lambda: UMT5EncoderModel(config))
    # The released file holds the embedding once, as shared.weight.
    state = {k: v for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"}
    save_safetensors(state, path)
    write_t5_tokenizer(path.with_suffix(".tokenizer"))  # UMT5's tokenizer is T5's kind (Unigram)
    make_readable(path)
    make_readable(path.with_suffix(".tokenizer"))
    return path


def write_tiny_umt5_fp8_scaled(path: Path, *, seed: int = 0) -> Path:
    """The same UMT5 in ComfyUI's scaled fp8 form: each linear weight float8 with a float32 scale_weight."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    full = path.with_name("_full.safetensors")
    write_tiny_umt5(full, seed=seed)
    state = load_file(full)
    full.unlink()
    shutil.rmtree(full.with_suffix(".tokenizer"))
    out: dict[str, Any] = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for key, value in state.items():
        if key.endswith(".weight") and value.dim() == 2 and not key.startswith("shared"):
            scale = value.abs().max().float() / 448.0  # float8_e4m3fn's largest finite value
            out[key] = (value / scale).to(torch.float8_e4m3fn)
            out[key.removesuffix(".weight") + ".scale_weight"] = scale.reshape(())
        else:
            out[key] = value
    save_safetensors(out, path)
    write_t5_tokenizer(path.with_suffix(".tokenizer"))
    make_readable(path)
    make_readable(path.with_suffix(".tokenizer"))
    return path


def write_tiny_wan_vae(path: Path, *, seed: int = 0) -> Path:
    from diffusers import AutoencoderKLWan

    from tiny_models.wan_layout import wan_vae_to_original

    path = Path(path)
    model = _seeded(seed + 12, lambda: AutoencoderKLWan(**VAE_CONFIG))
    save_safetensors(wan_vae_to_original(model.state_dict(), VAE_RES_BLOCKS), path)
    model.save_config(sidecar_config_dir(path) / "vae")
    make_readable(path)
    make_readable(sidecar_config_dir(path))
    return path


def write_tiny_wan_store(root: Path, *, seed: int = 0) -> None:
    """Every Wan file under the names ComfyUI's Wan 2.1 examples load, in the model store at `root`."""
    models = root / "diffusion_models"
    write_tiny_wan_diffusion_model(models / "wan2.1_t2v_1.3B_fp16.safetensors", seed=seed)
    write_tiny_wan_diffusion_model(models / "wan2.1_i2v_480p_14B_fp16.safetensors", seed=seed, i2v=True)
    write_tiny_umt5(root / "text_encoders" / "umt5_xxl_fp16.safetensors", seed=seed)
    write_tiny_umt5_fp8_scaled(root / "text_encoders" / "umt5_xxl_fp8_e4m3fn_scaled.safetensors", seed=seed)
    write_tiny_wan_vae(root / "vae" / "wan_2.1_vae.safetensors", seed=seed)
    # The image tower ComfyUI's Wan I2V example loads (ViT-H there; the tiny tower here).
    from tiny_models.clip_vision import write_tiny_clip_vision

    write_tiny_clip_vision(root / "clip_vision" / "clip_vision_h.safetensors", seed=seed + 13)
