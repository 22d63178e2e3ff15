"""Tiny SD 2.x, SDXL base + refiner, unCLIP and CLIP vision models under the names ComfyUI's examples load."""

from __future__ import annotations

from pathlib import Path

SD2_768 = "v2-1_768-ema-pruned.safetensors"
SD2_512 = "v2-1_512-ema-pruned.safetensors"
SDXL_BASE = "sd_xl_base_1.0.safetensors"
SDXL_REFINER = "sd_xl_refiner_1.0.safetensors"
# ComfyUI's unCLIP example names sd21-unclip-h.ckpt; the tiny one is the same layout as .safetensors.
UNCLIP = "sd21-unclip-h.safetensors"
CLIP_VISION_G = "clip_vision_g.safetensors"
CLIP_VISION_H = "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"


def write_sd2_models(root: Path) -> None:
    """Write them into the model store at `root` (conftest's models_dir)."""
    from tiny_models.clip_vision import write_tiny_clip_vision, write_tiny_sd21_unclip
    from tiny_models.sd2 import write_tiny_sd2_single_file
    from tiny_models.sdxl import write_tiny_sdxl_single_file
    from tiny_models.sdxl_refiner import write_tiny_sdxl_refiner_single_file

    checkpoints = root / "checkpoints"
    write_tiny_sd2_single_file(checkpoints / SD2_768, seed=0, prediction="v")
    write_tiny_sd2_single_file(checkpoints / SD2_512, seed=0, prediction="eps")
    write_tiny_sdxl_single_file(checkpoints / SDXL_BASE, seed=0)
    write_tiny_sdxl_refiner_single_file(checkpoints / SDXL_REFINER, seed=0)
    write_tiny_sd21_unclip(checkpoints / UNCLIP, seed=0)
    write_tiny_clip_vision(root / "clip_vision" / CLIP_VISION_G, seed=1, layout="transformers")
    write_tiny_clip_vision(root / "clip_vision" / CLIP_VISION_H, seed=2, layout="transformers")
