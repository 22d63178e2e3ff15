"""LoRA key names: which model part and layer a key of a LoRA file targets, and what kind of weight it is.

Two naming schemes are read:

- kohya / ComfyUI: ``lora_unet_<layer path with _>.lora_down.weight`` (``lora_up``, ``alpha``), with the
  UNet path in diffusers names (``down_blocks_0_attentions_0_...``) or in the original ldm names
  (``input_blocks_1_1_...``), and ``lora_te_`` / ``lora_te1_`` / ``lora_te2_`` for the text encoders.
- diffusers / PEFT: ``unet.<layer path>.lora_A.weight`` (``lora_B``; ``text_encoder.``, ``text_encoder_2.``).

Paths are compared with every ``.`` turned into ``_``, the form kohya writes; each model layer is
listed under its diffusers name and, for a UNet, its ldm name too (`layer_aliases`).
"""

from __future__ import annotations

from typing import Any

# Longest first where one prefix starts another.
KOHYA_PREFIXES: tuple[tuple[str, str], ...] = (
    ("lora_unet_", "unet"),
    ("lora_te1_", "text_encoder"),
    ("lora_te2_", "text_encoder_2"),
    ("lora_te_", "text_encoder"),
)
PEFT_PREFIXES = (("unet.", "unet"), ("text_encoder.", "text_encoder"), ("text_encoder_2.", "text_encoder_2"))

# What follows the layer path: the part of a plain LoRA it holds.
PARTS = {
    "lora_down.weight": "down",
    "lora_up.weight": "up",
    "alpha": "alpha",
    "lora_A.weight": "down",
    "lora_B.weight": "up",
    "lora.down.weight": "down",
    "lora.up.weight": "up",
}
# Weight kinds of other adapter types (LyCORIS and friends), by the first name after the layer path.
UNSUPPORTED = {
    "hada_w1_a": "LoHa",
    "hada_w1_b": "LoHa",
    "hada_w2_a": "LoHa",
    "hada_w2_b": "LoHa",
    "hada_t1": "LoHa",
    "hada_t2": "LoHa",
    "lokr_w1": "LoKr",
    "lokr_w2": "LoKr",
    "lokr_w1_a": "LoKr",
    "lokr_w1_b": "LoKr",
    "lokr_w2_a": "LoKr",
    "lokr_w2_b": "LoKr",
    "lokr_t2": "LoKr",
    "lora_mid": "LoCon with a Tucker (lora_mid) factor",
    "dora_scale": "DoRA",
    "diff": "full weight difference",
    "diff_b": "full bias difference",
    "w_norm": "norm difference",
    "b_norm": "norm difference",
    "a1": "GLoRA",
    "a2": "GLoRA",
    "b1": "GLoRA",
    "b2": "GLoRA",
    "oft_blocks": "OFT",
    "oft_diag": "OFT",
    "boft_blocks": "BOFT",
}


class UnsupportedLoraKey(ValueError):
    pass


def parse_key(key: str) -> tuple[str, str, str] | None:
    """``(role, layer path with _, part)`` of one LoRA file key, or None when the key is not a LoRA weight.

    Raises `UnsupportedLoraKey` for weights of another adapter type (LoHa, LoKr, ...).
    """
    for prefix, role in KOHYA_PREFIXES:
        if key.startswith(prefix):
            path, _, rest = key[len(prefix) :].partition(".")
            return _with_part(key, role, path, rest)
    for prefix, role in PEFT_PREFIXES:
        if key.startswith(prefix):
            body = key[len(prefix) :]
            for rest in (*PARTS, *UNSUPPORTED):
                if body.endswith("." + rest):
                    return _with_part(key, role, body[: -len(rest) - 1].replace(".", "_"), rest)
            if ".lora_A." in body or ".lora_B." in body:  # PEFT adapter names: lora_A.<adapter>.weight
                path, _, rest = body.partition(".lora_")
                return _with_part(key, role, path.replace(".", "_"), "lora_" + rest.split(".")[0] + ".weight")
            return None
    return None


def _with_part(key: str, role: str, path: str, rest: str) -> tuple[str, str, str] | None:
    kind = UNSUPPORTED.get(rest.split(".")[0])
    if kind:
        raise UnsupportedLoraKey(
            f"{key!r} is a {kind} weight, which is not supported: only plain LoRA files "
            "(lora_down / lora_up / alpha, or PEFT lora_A / lora_B) can be loaded."
        )
    part = PARTS.get(rest)
    return (role, path, part) if part and path else None


def layer_aliases(module: Any, role: str) -> dict[str, str]:
    """Every name a LoRA may use for a patchable layer of `module` (``.`` as ``_``) -> its module path."""
    import torch

    ldm = _ldm_prefixes(dict(module.config)) if role == "unet" and hasattr(module, "config") else None
    aliases: dict[str, str] = {}
    for path, layer in module.named_modules():
        if not isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d)):
            continue
        names = [path]
        if ldm is not None:
            names.append(ldm_name(path, ldm))
        elif role != "unet":
            # kohya writes CLIP paths with transformers' old "text_model." level; newer ones lack it.
            names.append(
                path.removeprefix("text_model.") if path.startswith("text_model.") else f"text_model.{path}"
            )
        for name in names:
            aliases.setdefault(name.replace(".", "_"), path)
    return aliases


# Inside a ResBlock, ldm keeps its layers in Sequentials: in_layers = (norm, SiLU, conv), and so on.
_LDM_RESNET_LAYERS = {
    "conv1": "in_layers.2",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}


def ldm_name(path: str, prefixes: dict[str, str]) -> str:
    """The original (ldm) module path of a diffusers UNet module path."""
    dotted = path + "."
    for old, new in prefixes.items():
        if dotted.startswith(old):
            rest = dotted[len(old) :].removesuffix(".")
            if ".resnets." in old:
                rest = _LDM_RESNET_LAYERS.get(rest, rest)
            return (new + rest).removesuffix(".")
    return path


def _ldm_prefixes(config: dict[str, Any]) -> dict[str, str] | None:
    """diffusers -> ldm prefixes for a UNet2DConditionModel config; None when its layout is not SD-like.

    ldm numbers a level's blocks in one flat list: ``input_blocks`` hold each level's resnets (with their
    attention as ``.1``) then its downsampler; ``output_blocks`` one more resnet per level, the last one
    also carrying the upsampler (after the attention, when the level has one).
    """
    per_level = config.get("layers_per_block")
    if not isinstance(per_level, int):
        return None
    levels = len(config["block_out_channels"])
    table = {
        "conv_in.": "input_blocks.0.0.",
        "time_embedding.linear_1.": "time_embed.0.",
        "time_embedding.linear_2.": "time_embed.2.",
        "add_embedding.linear_1.": "label_emb.0.0.",
        "add_embedding.linear_2.": "label_emb.0.2.",
        "conv_out.": "out.2.",
        "mid_block.resnets.0.": "middle_block.0.",
        "mid_block.attentions.0.": "middle_block.1.",
        "mid_block.resnets.1.": "middle_block.2.",
    }
    for level in range(levels):
        first_in = 1 + level * (per_level + 1)
        for j in range(per_level):
            table[f"down_blocks.{level}.resnets.{j}."] = f"input_blocks.{first_in + j}.0."
            table[f"down_blocks.{level}.attentions.{j}."] = f"input_blocks.{first_in + j}.1."
        table[f"down_blocks.{level}.downsamplers.0.conv."] = f"input_blocks.{first_in + per_level}.0.op."
        first_out = level * (per_level + 1)
        for j in range(per_level + 1):
            table[f"up_blocks.{level}.resnets.{j}."] = f"output_blocks.{first_out + j}.0."
            table[f"up_blocks.{level}.attentions.{j}."] = f"output_blocks.{first_out + j}.1."
        slot = 2 if "CrossAttn" in config["up_block_types"][level] else 1
        table[f"up_blocks.{level}.upsamplers.0."] = f"output_blocks.{first_out + per_level}.{slot}."
    return table
