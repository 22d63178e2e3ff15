"""Tiny random-weight FLUX.1 files under the names and key layouts ComfyUI users have.

- ``diffusion_models/flux1-dev.safetensors`` / ``flux1-schnell.safetensors``: the transformer in
  Black Forest Labs' layout (dev with ``guidance_in``, schnell without);
- ``text_encoders/clip_l.safetensors``: CLIP-L's ``text_model.*`` keys;
- ``text_encoders/t5xxl_fp16.safetensors``: T5's HF keys (``shared.weight``, ``encoder.block.N...``),
  with a tiny SentencePiece-style (Unigram) tokenizer in ``t5xxl_fp16.tokenizer/``;
- ``vae/ae.safetensors``: the 16-channel VAE's ldm keys (encoder.*, decoder.*, no quant convs);
- ``checkpoints/flux1-dev-fp8.safetensors``: all of it in one file, as ComfyUI's checkpoint.

Each file's tiny architecture sits in a sidecar ``NAME.config/`` next to it, as for the SD writers;
the tokenizers too. Weights are random: images are noise.
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
    write_json,
    write_tokenizer,
)

T5_WIDTH = 32
CLIP_WIDTH = text_encoder_config(1)["hidden_size"]


def transformer_config(*, dev: bool) -> dict[str, Any]:
    return {
        "patch_size": 1,
        "in_channels": 64,  # 16 latent channels x a 2x2 patch
        "num_layers": 1,
        "num_single_layers": 2,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": T5_WIDTH,
        "pooled_projection_dim": CLIP_WIDTH,
        "guidance_embeds": dev,
        "axes_dims_rope": (4, 6, 6),
    }


VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 16,
    "block_out_channels": (8, 8, 16, 16),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "scaling_factor": 0.3611,
    "shift_factor": 0.1159,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}

_T5_PIECES = ("▁a", "▁the", "▁cat", "▁photo", "▁of", "▁and", "▁dog", "ing")


def tiny_transformer(seed: int, *, dev: bool) -> Any:
    import torch
    from diffusers import FluxTransformer2DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FluxTransformer2DModel(**transformer_config(dev=dev))


def tiny_clip_l(seed: int) -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    vocab, _ = tiny_clip_vocab()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return CLIPTextModel(CLIPTextConfig(**text_encoder_config(len(vocab))))


def tiny_t5(seed: int) -> Any:
    import torch
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=len(t5_vocab()),
        d_model=T5_WIDTH,
        d_kv=8,
        num_heads=4,
        d_ff=40,
        num_layers=2,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 2)
        return T5EncoderModel(config)


def tiny_vae(seed: int) -> Any:
    import torch
    from diffusers import AutoencoderKL

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 3)
        return AutoencoderKL(**VAE_CONFIG)


def t5_vocab() -> list[tuple[str, float]]:
    """T5's special tokens first (pad 0, end 1, unknown 2), then single characters and a few pieces."""
    import string

    chars = ["▁", *string.ascii_lowercase, *string.ascii_uppercase, *string.digits, *",.!?'-:;()"]
    pieces = [(piece, -1.0) for piece in _T5_PIECES] + [(c, -5.0) for c in chars]
    return [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *pieces]


def write_t5_tokenizer(folder: Path) -> None:
    """A Unigram (SentencePiece-style) tokenizer.json laid out like T5's, loadable by transformers."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram(t5_vocab(), unk_id=2, byte_fallback=False))
    tokenizer.normalizer = normalizers.Replace(" {2,}", " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "T5Tokenizer",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "extra_ids": 0,
        "model_max_length": 512,
    }
    write_json(folder / "tokenizer_config.json", config)


def transformer_bfl_state(model: Any, prefix: str = "") -> dict[str, Any]:
    from nodes.flux.layout import diffusers_to_bfl

    return {prefix + k: v for k, v in diffusers_to_bfl(model.state_dict()).items()}


def clip_l_state(model: Any, prefix: str = "") -> dict[str, Any]:
    # ComfyUI's clip_l.safetensors keeps transformers' older text_model.* level.
    return {f"{prefix}text_model.{k}": v for k, v in model.state_dict().items()}


def t5_state(model: Any, prefix: str = "") -> dict[str, Any]:
    # The released files hold the embedding once, as shared.weight.
    return {prefix + k: v for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"}


def vae_state(model: Any, prefix: str = "") -> dict[str, Any]:
    from tiny_models.ldm_layout import vae_to_ldm

    return vae_to_ldm(model.state_dict(), VAE_CONFIG, prefix=prefix)


def write_tiny_flux_diffusion_model(path: Path, *, seed: int = 0, dev: bool = True) -> Path:
    """flux1-dev/schnell.safetensors in BFL's layout + ``NAME.config/transformer/config.json``."""
    path = Path(path)
    model = tiny_transformer(seed, dev=dev)
    save_safetensors(transformer_bfl_state(model), path)
    model.save_config(sidecar_config_dir(path) / "transformer")
    make_readable(path)
    make_readable(sidecar_config_dir(path))
    return path


def write_tiny_clip_l(path: Path, *, seed: int = 0) -> Path:
    """clip_l.safetensors + ``NAME.config/`` (config.json, tokenizer/)."""
    path = Path(path)
    model = tiny_clip_l(seed)
    save_safetensors(clip_l_state(model), path)
    config_dir = sidecar_config_dir(path)
    model.config.save_pretrained(config_dir)
    vocab, merges = tiny_clip_vocab()
    write_tokenizer(config_dir / "tokenizer", vocab, merges)
    make_readable(path)
    make_readable(config_dir)
    return path


def write_tiny_t5(path: Path, *, seed: int = 0) -> Path:
    """t5xxl_fp16.safetensors (HF keys) + its tokenizer in ``NAME.tokenizer/``."""
    path = Path(path)
    save_safetensors(t5_state(tiny_t5(seed)), path)
    write_t5_tokenizer(path.with_suffix(".tokenizer"))
    make_readable(path)
    make_readable(path.with_suffix(".tokenizer"))
    return path


def write_tiny_flux_vae(path: Path, *, seed: int = 0) -> Path:
    """ae.safetensors (encoder.*/decoder.* in the ldm layout) + ``NAME.config/vae/config.json``."""
    path = Path(path)
    model = tiny_vae(seed)
    save_safetensors(vae_state(model), path)
    model.save_config(sidecar_config_dir(path) / "vae")
    make_readable(path)
    make_readable(sidecar_config_dir(path))
    return path


def write_tiny_flux_checkpoint(path: Path, *, seed: int = 0, dev: bool = True) -> Path:
    """The all-in-one checkpoint: model.diffusion_model.*, text_encoders.clip_l/t5xxl.transformer.*,
    first_stage_model.*; its sidecar holds transformer/, vae/, text_encoder/ (with tokenizer/) configs
    and T5's tokenizer sits in ``NAME.tokenizer/``, as for a T5 file."""
    path = Path(path)
    transformer, clip, t5, vae = (
        tiny_transformer(seed, dev=dev),
        tiny_clip_l(seed),
        tiny_t5(seed),
        tiny_vae(seed),
    )
    state = {
        **transformer_bfl_state(transformer, "model.diffusion_model."),
        **clip_l_state(clip, "text_encoders.clip_l.transformer."),
        **t5_state(t5, "text_encoders.t5xxl.transformer."),
        **vae_state(vae, "first_stage_model."),
    }
    save_safetensors(state, path)
    config_dir = sidecar_config_dir(path)
    transformer.save_config(config_dir / "transformer")
    vae.save_config(config_dir / "vae")
    with quiet_transformers():
        clip.config.save_pretrained(config_dir / "text_encoder")
    vocab, merges = tiny_clip_vocab()
    write_tokenizer(config_dir / "text_encoder" / "tokenizer", vocab, merges)
    write_t5_tokenizer(path.with_suffix(".tokenizer"))
    for written in (path, config_dir, path.with_suffix(".tokenizer")):
        make_readable(written)
    return path


def write_tiny_flux_store(root: Path, *, seed: int = 0) -> None:
    """Every FLUX file under the names ComfyUI's FLUX examples load, in the model store at `root`."""
    write_tiny_flux_diffusion_model(root / "diffusion_models" / "flux1-dev.safetensors", seed=seed, dev=True)
    write_tiny_flux_diffusion_model(
        root / "diffusion_models" / "flux1-schnell.safetensors", seed=seed, dev=False
    )
    write_tiny_clip_l(root / "text_encoders" / "clip_l.safetensors", seed=seed)
    write_tiny_t5(root / "text_encoders" / "t5xxl_fp16.safetensors", seed=seed)
    write_tiny_flux_vae(root / "vae" / "ae.safetensors", seed=seed)
    write_tiny_flux_checkpoint(root / "checkpoints" / "flux1-dev-fp8.safetensors", seed=seed)
