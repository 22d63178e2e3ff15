"""SD3/SD3.5's key layouts: Stability AI's MMDiT names (ComfyUI's single files) and diffusers'
SD3Transformer2DModel names.

Pure tables plus two walks over them (torch tensors only, no model): `sai_to_diffusers` for loading
the files users have (``joint_blocks.N.x_block...``, bare or under ``model.diffusion_model.``) and
`diffusers_to_sai` for the tiny-model writer. Fused ``qkv`` projections are split into q, k, v (and
joined back). The last joint block's context half only modulates the text before the final attention
(no output projection, no MLP); its modulation and the final layer's are stored (shift, scale) by SAI
and (scale, shift) by diffusers.
"""

from __future__ import annotations

from typing import Any

# (SAI name, diffusers name) of modules whose weight and bias move as they are.
TOP_LEVEL = (
    ("x_embedder.proj", "pos_embed.proj"),
    ("t_embedder.mlp.0", "time_text_embed.timestep_embedder.linear_1"),
    ("t_embedder.mlp.2", "time_text_embed.timestep_embedder.linear_2"),
    ("y_embedder.mlp.0", "time_text_embed.text_embedder.linear_1"),
    ("y_embedder.mlp.2", "time_text_embed.text_embedder.linear_2"),
    ("context_embedder", "context_embedder"),
    ("final_layer.linear", "proj_out"),
)
X_BLOCK = (
    ("x_block.adaLN_modulation.1", "norm1.linear"),
    ("x_block.attn.proj", "attn.to_out.0"),
    ("x_block.attn2.proj", "attn2.to_out.0"),  # SD3.5 medium's dual-attention blocks
    ("x_block.mlp.fc1", "ff.net.0.proj"),
    ("x_block.mlp.fc2", "ff.net.2"),
)
CONTEXT_BLOCK = (
    ("context_block.adaLN_modulation.1", "norm1_context.linear"),
    ("context_block.attn.proj", "attn.to_add_out"),
    ("context_block.mlp.fc1", "ff_context.net.0.proj"),
    ("context_block.mlp.fc2", "ff_context.net.2"),
)
# SD3.5's qk-norm (RMSNorm scales, weight only).
NORMS = (
    ("x_block.attn.ln_q.weight", "attn.norm_q.weight"),
    ("x_block.attn.ln_k.weight", "attn.norm_k.weight"),
    ("x_block.attn2.ln_q.weight", "attn2.norm_q.weight"),
    ("x_block.attn2.ln_k.weight", "attn2.norm_k.weight"),
    ("context_block.attn.ln_q.weight", "attn.norm_added_q.weight"),
    ("context_block.attn.ln_k.weight", "attn.norm_added_k.weight"),
)
QKV = (
    ("x_block.attn.qkv", ("attn.to_q", "attn.to_k", "attn.to_v")),
    ("x_block.attn2.qkv", ("attn2.to_q", "attn2.to_k", "attn2.to_v")),
    ("context_block.attn.qkv", ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")),
)
FINAL_MODULATION = ("final_layer.adaLN_modulation.1", "norm_out.linear")
LAST_CONTEXT_MODULATION = ("context_block.adaLN_modulation.1", "norm1_context.linear")
POS_EMBED = ("pos_embed", "pos_embed.pos_embed")
PARAMS = ("weight", "bias")


def count_blocks(keys: Any, kind: str = "joint_blocks") -> int:
    """How many `kind` blocks a state names."""
    found = {int(k.split(".")[1]) for k in keys if k.startswith(kind + ".")}
    return max(found) + 1 if found else 0


def _swap_halves(tensor: Any) -> Any:
    import torch

    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def _pairs(depth: int) -> list[tuple[str, str]]:
    """Every (SAI key, diffusers key) that moves unchanged (a block's absent ones are skipped)."""
    pairs = [(f"{s}.{p}", f"{d}.{p}") for s, d in TOP_LEVEL for p in PARAMS] + [POS_EMBED]
    for i in range(depth):
        sai, diff = f"joint_blocks.{i}", f"transformer_blocks.{i}"
        modules = X_BLOCK + (CONTEXT_BLOCK if i < depth - 1 else CONTEXT_BLOCK[1:])
        pairs += [(f"{sai}.{s}.{p}", f"{diff}.{d}.{p}") for s, d in modules for p in PARAMS]
        pairs += [(f"{sai}.{s}", f"{diff}.{d}") for s, d in NORMS]
    return pairs


def _swapped(depth: int) -> list[tuple[str, str]]:
    """(SAI, diffusers) modulations stored in the other order: the final layer's, the last block's text."""
    (final_s, final_d), (last_s, last_d) = FINAL_MODULATION, LAST_CONTEXT_MODULATION
    last = depth - 1
    pairs = [(f"{final_s}.{p}", f"{final_d}.{p}") for p in PARAMS]
    return pairs + [
        (f"joint_blocks.{last}.{last_s}.{p}", f"transformer_blocks.{last}.{last_d}.{p}") for p in PARAMS
    ]


def sai_to_diffusers(state: dict[str, Any]) -> dict[str, Any]:
    """An SAI-layout MMDiT state (no prefix) in diffusers' names. Pops from `state` as it goes, so the
    caller never holds two full copies; the q, k, v splits are views of the fused tensors."""
    depth = count_blocks(state)
    out: dict[str, Any] = {}
    for sai, diff in _swapped(depth):
        out[diff] = _swap_halves(state.pop(sai))
    for sai, diff in _pairs(depth):
        if sai in state:
            out[diff] = state.pop(sai)
    for i in range(depth):
        for fused, parts in QKV:
            for p in PARAMS:
                key = f"joint_blocks.{i}.{fused}.{p}"
                if key not in state:
                    continue  # attn2 only in the dual-attention blocks
                for name, piece in zip(parts, state.pop(key).chunk(3, dim=0), strict=True):
                    out[f"transformer_blocks.{i}.{name}.{p}"] = piece
    if state:
        leftover = ", ".join(sorted(state)[:5])
        raise ValueError(f"SD3 weights this layout does not know: {leftover} ({len(state)} in all).")
    return out


def diffusers_to_sai(state: dict[str, Any]) -> dict[str, Any]:
    """An SD3Transformer2DModel state dict in SAI's names (the tiny-model writer's side)."""
    import torch

    state = dict(state)
    depth = count_blocks(state, "transformer_blocks")
    out: dict[str, Any] = {}
    for sai, diff in _swapped(depth):
        out[sai] = _swap_halves(state.pop(diff))
    for sai, diff in _pairs(depth):
        if diff in state:
            out[sai] = state.pop(diff)
    for i in range(depth):
        for fused, parts in QKV:
            for p in PARAMS:
                names = [f"transformer_blocks.{i}.{name}.{p}" for name in parts]
                if names[0] in state:
                    out[f"joint_blocks.{i}.{fused}.{p}"] = torch.cat([state.pop(n) for n in names], dim=0)
    assert not state, f"diffusers SD3 keys without an SAI name: {sorted(state)[:5]}"
    return out
