"""FLUX.1's key layouts: Black Forest Labs' original names and diffusers' FluxTransformer2DModel names.

Pure tables plus two walks over them (torch tensors only, no model): `bfl_to_diffusers` for loading
the files users have (flux1-dev.safetensors, a checkpoint's model.diffusion_model.*) and
`diffusers_to_bfl` for the tiny-model writer. Fused projections are split (and joined back): the
double blocks' qkv into q, k, v; the single blocks' linear1 into q, k, v and the MLP's input.
The final modulation is stored (shift, scale) by BFL and (scale, shift) by diffusers.
"""

from __future__ import annotations

from typing import Any

# (BFL name, diffusers name) of modules whose weight and bias move as they are.
TOP_LEVEL = (
    ("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1"),
    ("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2"),
    ("vector_in.in_layer", "time_text_embed.text_embedder.linear_1"),
    ("vector_in.out_layer", "time_text_embed.text_embedder.linear_2"),
    ("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1"),
    ("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2"),
    ("txt_in", "context_embedder"),
    ("img_in", "x_embedder"),
    ("final_layer.linear", "proj_out"),
)
DOUBLE_BLOCK = (
    ("img_mod.lin", "norm1.linear"),
    ("txt_mod.lin", "norm1_context.linear"),
    ("img_mlp.0", "ff.net.0.proj"),
    ("img_mlp.2", "ff.net.2"),
    ("txt_mlp.0", "ff_context.net.0.proj"),
    ("txt_mlp.2", "ff_context.net.2"),
    ("img_attn.proj", "attn.to_out.0"),
    ("txt_attn.proj", "attn.to_add_out"),
)
DOUBLE_NORMS = (
    ("img_attn.norm.query_norm.scale", "attn.norm_q.weight"),
    ("img_attn.norm.key_norm.scale", "attn.norm_k.weight"),
    ("txt_attn.norm.query_norm.scale", "attn.norm_added_q.weight"),
    ("txt_attn.norm.key_norm.scale", "attn.norm_added_k.weight"),
)
DOUBLE_QKV = (
    ("img_attn.qkv", ("attn.to_q", "attn.to_k", "attn.to_v")),
    ("txt_attn.qkv", ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")),
)
SINGLE_BLOCK = (("modulation.lin", "norm.linear"), ("linear2", "proj_out"))
SINGLE_NORMS = (
    ("norm.query_norm.scale", "attn.norm_q.weight"),
    ("norm.key_norm.scale", "attn.norm_k.weight"),
)
SINGLE_FUSED = ("linear1", ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"))
FINAL_MODULATION = ("final_layer.adaLN_modulation.1", "norm_out.linear")
PARAMS = ("weight", "bias")


def count_blocks(keys: Any, kind: str) -> int:
    """How many `kind` ("double_blocks"/"single_blocks") a BFL state names."""
    found = {int(k.split(".")[1]) for k in keys if k.startswith(kind + ".")}
    return max(found) + 1 if found else 0


def _swap_halves(tensor: Any) -> Any:
    import torch

    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def _renames(num_double: int, num_single: int) -> list[tuple[str, str]]:
    """Every (BFL key, diffusers key) that moves unchanged."""
    pairs = [(f"{b}.{p}", f"{d}.{p}") for b, d in TOP_LEVEL for p in PARAMS]
    for i in range(num_double):
        pairs += [
            (f"double_blocks.{i}.{b}.{p}", f"transformer_blocks.{i}.{d}.{p}")
            for b, d in DOUBLE_BLOCK
            for p in PARAMS
        ]
        pairs += [(f"double_blocks.{i}.{b}", f"transformer_blocks.{i}.{d}") for b, d in DOUBLE_NORMS]
    for i in range(num_single):
        block = f"single_transformer_blocks.{i}"
        pairs += [(f"single_blocks.{i}.{b}.{p}", f"{block}.{d}.{p}") for b, d in SINGLE_BLOCK for p in PARAMS]
        pairs += [(f"single_blocks.{i}.{b}", f"{block}.{d}") for b, d in SINGLE_NORMS]
    return pairs


def bfl_to_diffusers(state: dict[str, Any], *, hidden: int) -> dict[str, Any]:
    """A BFL-layout transformer state (no prefix) in diffusers' names. Pops from `state` as it goes, so
    the caller never holds two full copies; the splits are views of the fused tensors."""
    num_double, num_single = count_blocks(state, "double_blocks"), count_blocks(state, "single_blocks")
    out: dict[str, Any] = {}
    for bfl, diff in _renames(num_double, num_single):
        if bfl in state:
            out[diff] = state.pop(bfl)
    for i in range(num_double):
        for fused, parts in DOUBLE_QKV:
            for p in PARAMS:
                pieces = state.pop(f"double_blocks.{i}.{fused}.{p}").chunk(3, dim=0)
                for name, piece in zip(parts, pieces, strict=True):
                    out[f"transformer_blocks.{i}.{name}.{p}"] = piece
    linear1, linear1_parts = SINGLE_FUSED
    for i in range(num_single):
        for p in PARAMS:
            tensor = state.pop(f"single_blocks.{i}.{linear1}.{p}")
            sizes = (hidden, hidden, hidden, tensor.shape[0] - 3 * hidden)
            for name, piece in zip(linear1_parts, tensor.split(sizes, dim=0), strict=True):
                out[f"single_transformer_blocks.{i}.{name}.{p}"] = piece
    bfl, diff = FINAL_MODULATION
    for p in PARAMS:
        out[f"{diff}.{p}"] = _swap_halves(state.pop(f"{bfl}.{p}"))
    if state:
        leftover = ", ".join(sorted(state)[:5])
        raise ValueError(f"FLUX weights this layout does not know: {leftover} ({len(state)} in all).")
    return out


def diffusers_to_bfl(state: dict[str, Any]) -> dict[str, Any]:
    """A FluxTransformer2DModel state dict in BFL's original names (the tiny-model writer's side)."""
    import torch

    state = dict(state)
    num_double = len({k.split(".")[1] for k in state if k.startswith("transformer_blocks.")})
    num_single = len({k.split(".")[1] for k in state if k.startswith("single_transformer_blocks.")})
    out: dict[str, Any] = {}
    for bfl, diff in _renames(num_double, num_single):
        if diff in state:
            out[bfl] = state.pop(diff)
    for i in range(num_double):
        for fused, parts in DOUBLE_QKV:
            for p in PARAMS:
                pieces = [state.pop(f"transformer_blocks.{i}.{name}.{p}") for name in parts]
                out[f"double_blocks.{i}.{fused}.{p}"] = torch.cat(pieces, dim=0)
    linear1, linear1_parts = SINGLE_FUSED
    for i in range(num_single):
        for p in PARAMS:
            pieces = [state.pop(f"single_transformer_blocks.{i}.{name}.{p}") for name in linear1_parts]
            out[f"single_blocks.{i}.{linear1}.{p}"] = torch.cat(pieces, dim=0)
    bfl, diff = FINAL_MODULATION
    for p in PARAMS:
        out[f"{bfl}.{p}"] = _swap_halves(state.pop(f"{diff}.{p}"))
    assert not state, f"diffusers FLUX keys without a BFL name: {sorted(state)[:5]}"
    return out
