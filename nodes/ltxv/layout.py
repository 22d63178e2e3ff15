"""LTX-Video's keys: the original (Lightricks / ComfyUI) checkpoint layout <-> diffusers' classes.

``ltx-video-2b-v0.9.5.safetensors`` holds the transformer under ``model.diffusion_model.`` and the VAE
under ``vae.``. The transformer maps one to one by name pieces (``patchify_proj`` is diffusers'
``proj_in``, ``adaln_single`` its ``time_embed``, ``q_norm``/``k_norm`` its ``norm_q``/``norm_k``).
The 0.9.5 VAE keeps its blocks in one flat list per side, where diffusers nests them: encoder item 2i is
down block i's res blocks, 2i + 1 its downsampler, the last the mid block; decoder item 0 is the mid
block, 2i + 1 up block i's upsampler, 2i + 2 its res blocks. A key no rule covers is an error.
"""

from __future__ import annotations

import re
from typing import Any

TRANSFORMER_PREFIX = "model.diffusion_model."
VAE_PREFIX = "vae."
# Whole name pieces, original -> diffusers.
_TRANSFORMER = {
    "patchify_proj": "proj_in",
    "adaln_single": "time_embed",
    "q_norm": "norm_q",
    "k_norm": "norm_k",
}
_VAE_TOP = {
    "decoder.last_time_embedder": "decoder.time_embedder",
    "decoder.last_scale_shift_table": "decoder.scale_shift_table",
    "per_channel_statistics.mean-of-means": "latents_mean",
    "per_channel_statistics.std-of-means": "latents_std",
}
# Statistics the file carries that diffusers' VAE does not keep.
_VAE_DROPPED = re.compile(r"^per_channel_statistics\.(channel|mean-of-stds.*)$")


def transformer_to_diffusers(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state.items():
        for old, new in _TRANSFORMER.items():
            key = re.sub(rf"(^|\.){old}(\.|$)", rf"\g<1>{new}\g<2>", key)
        out[key] = value
    return out


def transformer_to_original(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state.items():
        for old, new in _TRANSFORMER.items():
            key = re.sub(rf"(^|\.){new}(\.|$)", rf"\g<1>{old}\g<2>", key)
        out[key] = value
    return out


def vae_to_diffusers(state: dict[str, Any], down_blocks: int) -> dict[str, Any]:
    """The 0.9.5 VAE (no ``vae.`` prefix) under AutoencoderKLLTXVideo's names."""
    out: dict[str, Any] = {}
    unknown = []
    for key, value in state.items():
        if _VAE_DROPPED.match(key):
            continue
        new = _vae_key(key, down_blocks)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise ValueError(f"not an LTX-Video 0.9.5 VAE: unknown keys {unknown[:3]}")
    return out


def _vae_key(key: str, down_blocks: int) -> str | None:
    for old, new in _VAE_TOP.items():
        if key == old or key.startswith(old + "."):
            return new + key[len(old) :]
    match = re.match(r"^(encoder\.down_blocks|decoder\.up_blocks)\.(\d+)\.(.+)$", key)
    if match is None:
        return (
            key
            if re.match(r"^(encoder|decoder)\.(conv_in|conv_out|timestep_scale_multiplier)", key)
            else None
        )
    side, index, rest = match.group(1), int(match.group(2)), match.group(3).replace("res_blocks", "resnets")
    if side.startswith("encoder"):
        if index == 2 * down_blocks:
            return f"encoder.mid_block.{rest}"
        block, item = divmod(index, 2)
        if block >= down_blocks:
            return None
        return (
            f"encoder.down_blocks.{block}.{rest}"
            if item == 0
            else f"encoder.down_blocks.{block}.downsamplers.0.{rest}"
        )
    if index == 0:
        return f"decoder.mid_block.{rest}"
    block, item = divmod(index - 1, 2)
    return (
        f"decoder.up_blocks.{block}.upsamplers.0.{rest}" if item == 0 else f"decoder.up_blocks.{block}.{rest}"
    )


def vae_to_original(state: dict[str, Any], down_blocks: int) -> dict[str, Any]:
    """The inverse (the tiny-model writer saves diffusers' VAE in the file's layout)."""
    top = {v: k for k, v in _VAE_TOP.items()}
    out: dict[str, Any] = {}
    for key, value in state.items():
        for new, old in top.items():
            if key == new or key.startswith(new + "."):
                key = old + key[len(new) :]
                break
        key = re.sub(
            r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.",
            lambda m: f"encoder.down_blocks.{2 * int(m.group(1)) + 1}.",
            key,
        )
        key = re.sub(
            r"^encoder\.down_blocks\.(\d+)\.resnets\.",
            lambda m: f"encoder.down_blocks.{2 * int(m.group(1))}.res_blocks.",
            key,
        )
        key = re.sub(
            r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
            lambda m: f"decoder.up_blocks.{2 * int(m.group(1)) + 1}.",
            key,
        )
        key = re.sub(
            r"^decoder\.up_blocks\.(\d+)\.(resnets|time_embedder)",
            lambda m: (
                f"decoder.up_blocks.{2 * int(m.group(1)) + 2}."
                + ("res_blocks" if m.group(2) == "resnets" else m.group(2))
            ),
            key,
        )
        # The mid blocks last, so the block rules above never renumber them again.
        key = re.sub(r"^encoder\.mid_block\.", f"encoder.down_blocks.{2 * down_blocks}.", key)
        key = re.sub(r"^decoder\.mid_block\.", "decoder.up_blocks.0.", key)
        key = key.replace(".resnets.", ".res_blocks.")
        out[key] = value
    return out


def shape(header: dict[str, Any], key: str) -> list[int]:
    entry = header.get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list):
        raise ValueError(f"not an LTX-Video checkpoint: it has no {key}")
    return [int(v) for v in entry["shape"]]


def header_dims(header: dict[str, Any]) -> dict[str, Any]:
    """What the checkpoint's header gives away of its transformer's and VAE's diffusers configs."""
    p = TRANSFORMER_PREFIX
    blocks = {
        int(m.group(1)) for k in header if (m := re.match(rf"^{re.escape(p)}transformer_blocks\.(\d+)\.", k))
    }
    down = {int(m.group(1)) for k in header if (m := re.match(r"^vae\.encoder\.down_blocks\.(\d+)\.", k))}
    return {
        "hidden": shape(header, p + "patchify_proj.weight")[0],
        "in_channels": shape(header, p + "patchify_proj.weight")[1],
        "caption_channels": shape(header, p + "caption_projection.linear_1.weight")[1],
        "num_layers": max(blocks) + 1 if blocks else 0,
        "vae_top_channels": shape(header, VAE_PREFIX + "encoder.conv_out.conv.weight")[1],
        "vae_down_blocks": max(down) // 2 if down else 0,  # the last item is the mid block
    }
