"""Tiny LoRAs (and the checkpoint ComfyUI's LoRA example loads) in the test model store."""

from __future__ import annotations

from pathlib import Path

from tests.support.graphs import TINY_CHECKPOINT

# ComfyUI's LoRA example (ComfyUI_examples/lora) loads these two files.
EXAMPLE_CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
EXAMPLE_LORA = "epi_noiseoffset2.safetensors"  # kohya keys in the original (ldm) UNet names
# Another LoRA, other numbers, kohya keys in diffusers names: to stack, and for LoraLoaderModelOnly.
STYLE_LORA = "tiny-style-lora.safetensors"
# ComfyUI's LCM LoRA example (ComfyUI_examples/lcm) loads the LCM LoRA of SD 1.5 under this name.
LCM_LORA = "lcm-lora-sdv1-5.safetensors"
LORA_NAMES = (EXAMPLE_LORA, STYLE_LORA, LCM_LORA)


def write_lora_models(root: Path) -> None:
    """Write the tiny LoRAs under root/loras/ and the example's checkpoint (needs the tiny SD1.5 folder)."""
    from tiny_models.lora import write_tiny_lora
    from tiny_models.sd15 import write_tiny_sd15_single_file

    checkpoint = root / "checkpoints" / TINY_CHECKPOINT
    write_tiny_sd15_single_file(root / "checkpoints" / EXAMPLE_CHECKPOINT, seed=0)
    write_tiny_lora(root / "loras" / EXAMPLE_LORA, checkpoint_dir=checkpoint, seed=1, layout="kohya_ldm")
    write_tiny_lora(root / "loras" / STYLE_LORA, checkpoint_dir=checkpoint, seed=2, layout="kohya_diffusers")
    write_tiny_lora(root / "loras" / LCM_LORA, checkpoint_dir=checkpoint, seed=3, layout="kohya_ldm")
