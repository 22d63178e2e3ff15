"""Wan 2.1's transformer keys: the original (Wan-AI / ComfyUI) layout -> diffusers' WanTransformer3DModel.

ComfyUI's ``wan2.1_*.safetensors`` files keep the reference implementation's names (``blocks.N.self_attn.q``,
``patch_embedding``, ``text_embedding.0``, ``head.head`` ...), sometimes under ``model.diffusion_model.``.
Every tensor maps one to one: a rename, no reshaping. The table is by name piece, checked in order; a key
no rule covers is an error, so a file of another model fails instead of loading half.
"""

from __future__ import annotations

import re
from typing import Any

# Whole-key renames outside the blocks (the I2V image projection included).
_TOP = {
    "patch_embedding": "patch_embedding",
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj",
    "img_emb.proj.0": "condition_embedder.image_embedder.norm1",
    "img_emb.proj.1": "condition_embedder.image_embedder.ff.net.0.proj",
    "img_emb.proj.3": "condition_embedder.image_embedder.ff.net.2",
    "img_emb.proj.4": "condition_embedder.image_embedder.norm2",
    "head.head": "proj_out",
}
_TOP_PARAMS = {"head.modulation": "scale_shift_table"}

# Inside blocks.N: the module path before .weight/.bias.
_BLOCK = {
    "self_attn.q": "attn1.to_q",
    "self_attn.k": "attn1.to_k",
    "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "self_attn.norm_q": "attn1.norm_q",
    "self_attn.norm_k": "attn1.norm_k",
    "cross_attn.q": "attn2.to_q",
    "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "cross_attn.norm_q": "attn2.norm_q",
    "cross_attn.norm_k": "attn2.norm_k",
    "cross_attn.k_img": "attn2.add_k_proj",
    "cross_attn.v_img": "attn2.add_v_proj",
    "cross_attn.norm_k_img": "attn2.norm_added_k",
    "norm3": "norm2",  # the cross-attention norm (cross_attn_norm)
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
}
_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")


def original_to_diffusers(state: dict[str, Any]) -> dict[str, Any]:
    """The state of an original-layout Wan 2.1 transformer (no prefix) under diffusers' names."""
    out: dict[str, Any] = {}
    unknown = []
    for key, value in state.items():
        new = _rename(key)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise ValueError(f"not a Wan 2.1 transformer in the original layout: unknown keys {unknown[:3]}")
    return out


def diffusers_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """The inverse (the tiny-model writer uses it to save diffusers' modules in the files' layout)."""
    top = {v: k for k, v in _TOP.items()}
    block = {v: k for k, v in _BLOCK.items()}
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key == "scale_shift_table":
            out["head.modulation"] = value
            continue
        match = re.match(r"^blocks\.(\d+)\.(.+)$", key)
        if match:
            index, rest = match.groups()
            if rest == "scale_shift_table":
                out[f"blocks.{index}.modulation"] = value
                continue
            module, _, param = rest.rpartition(".")
            out[f"blocks.{index}.{block[module]}.{param}"] = value
            continue
        module, _, param = key.rpartition(".")
        out[f"{top[module]}.{param}"] = value
    return out


def _rename(key: str) -> str | None:
    if key in _TOP_PARAMS:
        return _TOP_PARAMS[key]
    match = re.match(r"^blocks\.(\d+)\.modulation$", key)
    if match:
        return f"blocks.{match.group(1)}.scale_shift_table"
    match = _BLOCK_KEY.match(key)
    if match:
        index, module, param = match.groups()
        target = _BLOCK.get(module)
        return None if target is None else f"blocks.{index}.{target}.{param}"
    module, _, param = key.rpartition(".")
    target = _TOP.get(module)
    return None if target is None or param not in ("weight", "bias") else f"{target}.{param}"


def count_blocks(keys: list[str]) -> int:
    indices = {int(m.group(1)) for k in keys if (m := re.match(r"^blocks\.(\d+)\.", k))}
    return max(indices) + 1 if indices else 0


def header_dims(header: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The diffusers config values a Wan transformer's header gives away (shapes only, no weights)."""

    def shape(key: str) -> list[int]:
        entry = header.get(prefix + key)
        if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list):
            raise ValueError(f"not a Wan 2.1 transformer in the original layout: it has no {prefix}{key}")
        return [int(v) for v in entry["shape"]]

    patch = shape("patch_embedding.weight")  # (dim, in_channels, pt, ph, pw)
    keys = [k[len(prefix) :] for k in header if k.startswith(prefix)]
    image = "img_emb.proj.1.weight" in keys
    return {
        "hidden": patch[0],
        "in_channels": patch[1],
        "patch_size": patch[2:],
        "out_channels": shape("head.head.weight")[0] // (patch[2] * patch[3] * patch[4]),
        "text_dim": shape("text_embedding.0.weight")[1],
        "freq_dim": shape("time_embedding.0.weight")[1],
        "ffn_dim": shape("blocks.0.ffn.0.weight")[0],
        "num_layers": count_blocks(keys),
        "image_dim": shape("img_emb.proj.1.weight")[1] if image else None,
    }
