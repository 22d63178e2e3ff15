"""Stable Video Diffusion's checkpoint names (Stability's SGM layout) for diffusers' module names.

A real ``svd.safetensors`` / ``svd_xt.safetensors`` holds the UNet under ``model.diffusion_model.``
(sgm's VideoUNet: ``input_blocks``/``middle_block``/``output_blocks``, each ResBlock with a temporal
twin ``time_stack`` and a learned ``time_mixer.mix_factor``; each spatial transformer with temporal
blocks ``time_stack.N`` and ``time_pos_embed``), the VAE under ``first_stage_model.`` (an ldm encoder
and sgm's VideoDecoder: ``mid.block_N``/``up.N.block.M`` with ``time_stack`` and ``mix_factor``, the
output conv's temporal half ``conv_out.time_mix_conv``) and the CLIP image tower under
``conditioner.embedders.0.open_clip.model.visual.`` (OpenCLIP's layout).

Each function here names, for one key of the diffusers module (UNetSpatioTemporalConditionModel,
AutoencoderKLTemporalDecoder), the key the checkpoint stores it under. The loader walks the module's
own keys and takes each from the file, so a key the file lacks is reported by name; the tiny-model
writer walks the same function the other way. Written from the module structures, not from a converter.
"""

from __future__ import annotations

import re
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_VISION_PREFIXES = (
    "conditioner.embedders.0.open_clip.model.visual.",
    "conditioner.embedders.0.model.visual.",
)

# ResnetBlock2D (diffusers) -> ldm ResBlock: in_layers = (norm, act, conv),
# out_layers = (norm, act, dropout, conv).
_RES_PARTS = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
# The VAE's ResnetBlocks keep diffusers' names except the shortcut (ldm's "nin_shortcut").
_VAE_RES_PARTS = {"conv_shortcut": "nin_shortcut"}
# The VAE's mid attention: ldm names its 1x1 convs q, k, v, proj_out and its norm "norm".
_VAE_ATTENTION_PARTS = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
_BLOCK = re.compile(
    r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.*)$"
)
_MID = re.compile(r"^mid_block\.(resnets|attentions)\.(\d+)\.(.*)$")


def _part(rest: str, parts: dict[str, str]) -> str:
    head, _, tail = rest.partition(".")
    if head == "to_out":  # "to_out.0.weight"
        head, _, tail = rest.rpartition(".")
    return f"{parts.get(head, head)}.{tail}" if tail else parts.get(head, head)


def _unet_resnet(rest: str) -> str:
    """Inside a SpatioTemporalResBlock: the spatial ResBlock, its temporal twin and the blend factor."""
    if rest.startswith("spatial_res_block."):
        return _part(rest[len("spatial_res_block.") :], _RES_PARTS)
    if rest.startswith("temporal_res_block."):
        return "time_stack." + _part(rest[len("temporal_res_block.") :], _RES_PARTS)
    return rest  # time_mixer.mix_factor


def _unet_transformer(rest: str) -> str:
    """Inside a TransformerSpatioTemporalModel: temporal blocks are sgm's time_stack.N."""
    if rest.startswith("temporal_transformer_blocks."):
        return "time_stack." + rest[len("temporal_transformer_blocks.") :]
    if rest.startswith("time_pos_embed."):
        layer = {"linear_1": "0", "linear_2": "2"}
        head, _, tail = rest[len("time_pos_embed.") :].partition(".")
        return f"time_pos_embed.{layer[head]}.{tail}"
    return rest  # norm, proj_in, proj_out, transformer_blocks.N.*, time_mixer.mix_factor


def unet_sgm_name(key: str, config: dict[str, Any]) -> str:
    """The checkpoint key (without model.diffusion_model.) of a UNetSpatioTemporalConditionModel key."""
    top = {
        "conv_in": "input_blocks.0.0",
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "add_embedding.linear_1": "label_emb.0.0",
        "add_embedding.linear_2": "label_emb.0.2",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    module, _, param = key.rpartition(".")
    if module in top:
        return f"{top[module]}.{param}"
    per_level = int(config["layers_per_block"]) + 1  # a level's resnets plus its down/upsampler slot
    mid = _MID.match(key)
    if mid:
        kind, index, rest = mid.group(1), int(mid.group(2)), mid.group(3)
        slot = 1 if kind == "attentions" else 2 * index  # resnet, transformer, resnet
        inner = _unet_transformer(rest) if kind == "attentions" else _unet_resnet(rest)
        return f"middle_block.{slot}.{inner}"
    block = _BLOCK.match(key)
    if not block:
        raise ValueError(f"SVD UNet key {key!r} has no place in the SGM layout.")
    side, level, kind, index, rest = (
        block.group(1),
        int(block.group(2)),
        block.group(3),
        int(block.group(4)),
        block.group(5),
    )
    if side == "down_blocks":
        if kind == "downsamplers":
            return f"input_blocks.{per_level * (level + 1)}.0.op.{rest.removeprefix('conv.')}"
        row = per_level * level + index + 1
    else:
        if kind == "upsamplers":
            has_attention = "CrossAttn" in config["up_block_types"][level]
            return f"output_blocks.{per_level * level + per_level - 1}.{2 if has_attention else 1}.{rest}"
        row = per_level * level + index
    if kind == "resnets":
        return f"{'input' if side == 'down_blocks' else 'output'}_blocks.{row}.0.{_unet_resnet(rest)}"
    return f"{'input' if side == 'down_blocks' else 'output'}_blocks.{row}.1.{_unet_transformer(rest)}"


def vae_sgm_name(key: str, config: dict[str, Any]) -> str:
    """The checkpoint key (without first_stage_model.) of an AutoencoderKLTemporalDecoder key."""
    levels = len(config["block_out_channels"])
    side, _, rest = key.partition(".")
    if side == "quant_conv":
        return key
    if side not in ("encoder", "decoder"):
        raise ValueError(f"SVD VAE key {key!r} has no place in the SGM layout.")
    renames = {"conv_norm_out": "norm_out", "time_conv_out": "conv_out.time_mix_conv"}
    module, _, param = rest.rpartition(".")
    if module in ("conv_in", "conv_out", "conv_norm_out", "time_conv_out"):
        return f"{side}.{renames.get(module, module)}.{param}"
    mid = _MID.match(rest)
    if mid:
        kind, index, inner = mid.group(1), int(mid.group(2)), mid.group(3)
        if kind == "attentions":
            return f"{side}.mid.attn_1.{_part(inner, _VAE_ATTENTION_PARTS)}"
        return f"{side}.mid.block_{index + 1}.{_vae_resnet(inner)}"
    block = _BLOCK.match(rest)
    if not block:
        raise ValueError(f"SVD VAE key {key!r} has no place in the SGM layout.")
    level, kind, index, inner = int(block.group(2)), block.group(3), int(block.group(4)), block.group(5)
    if side == "encoder":
        if kind == "downsamplers":
            return f"encoder.down.{level}.downsample.{inner}"
        return f"encoder.down.{level}.block.{index}.{_vae_resnet(inner)}"
    original = levels - 1 - level  # diffusers numbers the decoder's levels from the bottom up
    if kind == "upsamplers":
        return f"decoder.up.{original}.upsample.{inner}"
    return f"decoder.up.{original}.block.{index}.{_vae_resnet(inner)}"


def _vae_resnet(rest: str) -> str:
    """An encoder ResnetBlock2D, or a decoder SpatioTemporalResBlock (sgm's VideoResBlock)."""
    if rest.startswith("spatial_res_block."):
        return _part(rest[len("spatial_res_block.") :], _VAE_RES_PARTS)
    if rest.startswith("temporal_res_block."):
        return "time_stack." + _part(rest[len("temporal_res_block.") :], _RES_PARTS)
    if rest == "time_mixer.mix_factor":
        return "mix_factor"
    return _part(rest, _VAE_RES_PARTS)


def clip_vision_prefix(keys: Any) -> str | None:
    """Where the checkpoint keeps its CLIP image tower, or None."""
    for prefix in CLIP_VISION_PREFIXES:
        if prefix + "conv1.weight" in keys:
            return prefix
    return None
