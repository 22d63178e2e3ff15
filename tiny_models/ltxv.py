"""Tiny random-weight LTX-Video files under the names and key layouts ComfyUI users have.

- ``checkpoints/ltx-video-2b-v0.9.5.safetensors``: the all-in-one checkpoint, the transformer under
  ``model.diffusion_model.`` in Lightricks' layout (``patchify_proj``, ``adaln_single``,
  ``transformer_blocks.N.attn1.q_norm`` ...; 2 blocks, width 32) and the 0.9.5 VAE under ``vae.``
  (flat ``encoder.down_blocks.N``/``decoder.up_blocks.N`` lists, ``per_channel_statistics.*``,
  ``decoder.last_time_embedder``; the real block structure, 1 layer each, narrow channels);
- its text encoder is FLUX's tiny ``text_encoders/t5xxl_fp16.safetensors`` (tiny_models/flux.py), loaded by
  CLIPLoader type ``ltxv``.

Both architectures sit in the sidecar ``NAME.config/``; weights are random: videos are noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiny_models.common import make_readable, save_safetensors, sidecar_config_dir
from tiny_models.flux import T5_WIDTH, write_tiny_t5

SHIPPED_VAE = Path(__file__).resolve().parents[1] / "nodes" / "ltxv" / "configs" / "2b_0.9.5" / "vae"
CHECKPOINT = "ltx-video-2b-v0.9.5.safetensors"
TRANSFORMER_CONFIG: dict[str, Any] = {
    "in_channels": 128,
    "out_channels": 128,
    "num_attention_heads": 2,
    "attention_head_dim": 16,
    "cross_attention_dim": 32,
    "num_layers": 2,
    "caption_channels": T5_WIDTH,
}


def vae_config() -> dict[str, Any]:
    """The 0.9.5 VAE's structure (4 down blocks, 3 up blocks, 1/32 in space, 1/8 in time), narrow."""
    shipped = json.loads((SHIPPED_VAE / "config.json").read_text(encoding="utf-8"))
    config = {k: v for k, v in shipped.items() if not k.startswith("_")}
    config.update(
        block_out_channels=[8, 16, 32, 64, 128],
        decoder_block_out_channels=[16, 32, 64],
        layers_per_block=[1, 1, 1, 1, 1],
        decoder_layers_per_block=[1, 1, 1, 1],
    )
    return config


def _seeded(seed: int, build: Any) -> Any:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def write_tiny_ltxv_checkpoint(path: Path, *, seed: int = 0) -> Path:
    import torch
    from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel

    from nodes.ltxv.layout import TRANSFORMER_PREFIX, VAE_PREFIX, transformer_to_original, vae_to_original

    path = Path(path)
    transformer = _seeded(seed + 20, lambda: LTXVideoTransformer3DModel(**TRANSFORMER_CONFIG))
    config = vae_config()
    vae = _seeded(seed + 21, lambda: AutoencoderKLLTXVideo(**config))
    vae_state = dict(vae.state_dict())
    # The file's statistics: per-channel means and deviations of the latents (random here, not 0 and 1,
    # so a test sees them applied).
    generator = torch.Generator().manual_seed(seed + 22)
    vae_state["latents_mean"] = torch.randn(128, generator=generator) * 0.1
    vae_state["latents_std"] = 1.0 + torch.rand(128, generator=generator)
    state = {TRANSFORMER_PREFIX + k: v for k, v in transformer_to_original(transformer.state_dict()).items()}
    original_vae = vae_to_original(vae_state, len(config["down_block_types"]))
    original_vae["per_channel_statistics.channel"] = torch.arange(128, dtype=torch.float32)
    original_vae["per_channel_statistics.mean-of-stds"] = torch.ones(128)
    state.update({VAE_PREFIX + k: v for k, v in original_vae.items()})
    save_safetensors(state, path)
    transformer.save_config(sidecar_config_dir(path) / "transformer")
    AutoencoderKLLTXVideo(**config).save_config(sidecar_config_dir(path) / "vae")
    make_readable(path)
    make_readable(sidecar_config_dir(path))
    return path


def write_tiny_ltxv_store(root: Path, *, seed: int = 0) -> None:
    """The files ComfyUI's LTX-Video examples load, in the model store at `root`."""
    write_tiny_ltxv_checkpoint(root / "checkpoints" / CHECKPOINT, seed=seed)
    t5 = root / "text_encoders" / "t5xxl_fp16.safetensors"
    if not t5.exists():  # shared with FLUX's tiny models
        write_tiny_t5(t5, seed=seed)
