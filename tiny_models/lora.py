"""Tiny random LoRA files for the tiny SD 1.5 and SDXL checkpoints, for tests and demos.

The layers and shapes come from the checkpoint folder's own configs (``unet/config.json``,
``text_encoder/config.json``), so a LoRA fits whatever tiny model was written. It targets what kohya's
sd-scripts train: every linear and 1x1 conv layer of the UNet's transformer blocks, the 3x3 convs of its
resnets (conv LoRA: a 4-D ``lora_down``), and the text encoder's attention and MLP layers.

Same seed, same numbers in every layout; only the key names differ:

- ``kohya_diffusers``: ``lora_unet_down_blocks_0_attentions_0_..._to_q.lora_down.weight``, ``.alpha``
- ``kohya_ldm``: ``lora_unet_input_blocks_1_1_..._to_q.lora_down.weight`` (the original SD module names,
  renamed with tiny_models.ldm_layout, the mapping the single-file checkpoints are written with)
- ``peft``: ``unet.down_blocks.0...to_q.lora_A.weight`` / ``lora_B``, no alpha (``alpha / rank`` is folded
  into ``lora_B``, so every layout makes the same change)

Text encoder keys use kohya's ``lora_te_text_model_...`` (PEFT: ``text_encoder.text_model....``); for an
SDXL checkpoint, ``lora_te1_`` and ``lora_te2_`` for its two encoders. Django-free.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from tiny_models.common import make_readable, save_weights

LAYOUTS = ("kohya_diffusers", "kohya_ldm", "peft")
_UNET_LAYER = re.compile(
    r"(\.attentions\.\d+\.(proj_in|proj_out|transformer_blocks\..*)|\.resnets\.\d+\.conv[12])$"
)
_CLIP_LAYER = re.compile(r"\.(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])$")


def config_root(checkpoint: Path) -> Path:
    """Where the component configs (``unet/``, ``text_encoder/``...) of `checkpoint` are: a diffusers
    folder itself, or a single file's sidecar ``NAME.config/`` (else the loader's shipped configs)."""
    from nodes.diffusion.sdxl_loading import sdxl_config_dir
    from nodes.diffusion.single_file import config_dir_for
    from nodes.model_family import model_family

    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        return checkpoint
    return sdxl_config_dir(checkpoint) if model_family(checkpoint) == "sdxl" else config_dir_for(checkpoint)


def lora_layers(checkpoint_dir: Path, *, text_encoder: bool = True) -> list[tuple[str, str, tuple[int, ...]]]:
    """``(role, module path, weight shape)`` of every layer a tiny LoRA patches, in a fixed order.

    `checkpoint_dir` is a checkpoint (diffusers folder or single file); only its configs are read."""
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    checkpoint_dir = config_root(checkpoint_dir)
    with torch.device("meta"):  # names and shapes only: no memory, no random init
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(checkpoint_dir / "unet"))
        modules: list[tuple[str, Any]] = [("unet", unet)]
        if text_encoder:
            config = CLIPTextConfig.from_pretrained(checkpoint_dir / "text_encoder", local_files_only=True)
            modules.append(("text_encoder", CLIPTextModel(config)))
            if (checkpoint_dir / "text_encoder_2").is_dir():  # SDXL's second encoder (kohya's lora_te2_)
                config = CLIPTextConfig.from_pretrained(
                    checkpoint_dir / "text_encoder_2", local_files_only=True
                )
                modules.append(("text_encoder_2", CLIPTextModelWithProjection(config)))
    layers = []
    for role, module in modules:
        pattern = _UNET_LAYER if role == "unet" else _CLIP_LAYER
        for path, layer in module.named_modules():
            if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)) and pattern.search(path):
                layers.append((role, path, tuple(layer.weight.shape)))
    return layers


def write_tiny_lora(
    path: Path,
    *,
    checkpoint_dir: Path,
    seed: int,
    rank: int = 4,
    layout: str = "kohya_diffusers",
    text_encoder: bool = True,
) -> Path:
    """Write a random LoRA for the checkpoint `checkpoint_dir` (folder or single file) to `path`."""
    import torch
    from diffusers import UNet2DConditionModel

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}.")
    generator = torch.Generator().manual_seed(seed)
    alpha = rank / 2  # not the rank, so the alpha / rank scale is exercised
    unet_config = UNet2DConditionModel.load_config(config_root(checkpoint_dir) / "unet")
    tensors: dict[str, torch.Tensor] = {}
    for role, module_path, shape in lora_layers(checkpoint_dir, text_encoder=text_encoder):
        out_features, fan_in = shape[0], shape[1:]
        down = torch.randn((rank, *fan_in), generator=generator) / math.prod(fan_in) ** 0.5
        up = torch.randn((out_features, rank, *(1,) * (len(shape) - 2)), generator=generator) / rank**0.5
        tensors.update(_named(role, module_path, down, up, alpha, layout, unet_config))
    path = Path(path)
    save_weights(tensors, path)
    make_readable(path)
    return path


def _named(
    role: str, module_path: str, down: Any, up: Any, alpha: float, layout: str, unet_config: dict[str, Any]
) -> dict[str, Any]:
    import torch

    if role in ("text_encoder", "text_encoder_2"):
        # kohya and PEFT both name CLIP layers with transformers' "text_model." level.
        module_path = "text_model." + module_path.removeprefix("text_model.")
    elif layout == "kohya_ldm":
        from tiny_models.ldm_layout import UNET_PREFIX, unet_to_ldm

        renamed = next(iter(unet_to_ldm({f"{module_path}.weight": None}, unet_config)))
        module_path = renamed.removeprefix(UNET_PREFIX).removesuffix(".weight")
    if layout == "peft":
        prefix = f"{role}.{module_path}"
        rank = down.shape[0]
        return {f"{prefix}.lora_A.weight": down, f"{prefix}.lora_B.weight": up * (alpha / rank)}
    sdxl = unet_config.get("addition_embed_type") == "text_time"
    kohya_prefix = {"unet": "lora_unet_", "text_encoder": "lora_te1_" if sdxl else "lora_te_"}
    base = kohya_prefix.get(role, "lora_te2_") + module_path.replace(".", "_")
    return {
        f"{base}.lora_down.weight": down,
        f"{base}.lora_up.weight": up,
        f"{base}.alpha": torch.tensor(alpha),
    }
