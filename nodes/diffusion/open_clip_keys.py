"""Renames OpenCLIP state dicts (text and vision towers) to transformers' CLIP key names.

OpenCLIP stores each transformer layer as ``resblocks.N`` with one fused q/k/v
projection (``attn.in_proj_weight``), ``ln_1``/``ln_2`` and ``mlp.c_fc``/``mlp.c_proj``; its
output projections are matrices applied from the right (``x @ proj``), where a
transformers ``Linear`` stores the transpose. SD 2.x keeps its ViT-H text tower
under ``cond_stage_model.model.``, unCLIP its ViT-H image tower under
``embedder.model.visual.``, and OpenCLIP's own files the image tower under
``visual.``. Unlike diffusers' SD2 converter this keeps every layer (diffusers drops
the last text layer, which ComfyUI's CLIPSetLastLayer can still select).

Our own mapping, written from OpenCLIP's module structure.
"""

from __future__ import annotations

from typing import Any

_LAYER_PARTS = (
    ("ln_1.", "layer_norm1."),
    ("ln_2.", "layer_norm2."),
    ("mlp.c_fc.", "mlp.fc1."),
    ("mlp.c_proj.", "mlp.fc2."),
    ("attn.out_proj.", "self_attn.out_proj."),
)


def _resblocks(state: dict[str, Any], prefix: str, out_prefix: str) -> dict[str, Any]:
    """``{prefix}resblocks.N.*`` as ``{out_prefix}layers.N.*`` with q/k/v split."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if not key.startswith(prefix + "resblocks."):
            continue
        number, rest = key[len(prefix + "resblocks.") :].split(".", 1)
        dst = f"{out_prefix}layers.{number}."
        if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
            kind = rest.rsplit("_", 1)[1]
            for name, part in zip(("q", "k", "v"), value.chunk(3, dim=0), strict=True):
                out[f"{dst}self_attn.{name}_proj.{kind}"] = part.contiguous()
            continue
        for old, new in _LAYER_PARTS:
            if rest.startswith(old):
                out[dst + new + rest[len(old) :]] = value
                break
        else:
            raise ValueError(f"Unknown OpenCLIP layer weight {key!r}.")
    return out


def open_clip_text_to_transformers(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The text tower under `prefix` (``token_embedding``, ``positional_embedding``,
    ``transformer.resblocks.N``, ``ln_final``) as a transformers ``CLIPTextModel`` state dict (no
    ``text_model.`` level, as transformers >= 5.6 names it). ``text_projection`` is left out: SD 2.x
    reads hidden states, never the projected text embedding."""
    out = _resblocks(state, prefix + "transformer.", "encoder.")
    out["embeddings.token_embedding.weight"] = state[prefix + "token_embedding.weight"]
    out["embeddings.position_embedding.weight"] = state[prefix + "positional_embedding"]
    out["final_layer_norm.weight"] = state[prefix + "ln_final.weight"]
    out["final_layer_norm.bias"] = state[prefix + "ln_final.bias"]
    return out


def open_clip_vision_to_transformers(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The image tower under `prefix` (``conv1``, ``class_embedding``, ``positional_embedding``,
    ``ln_pre``, ``transformer.resblocks.N``, ``ln_post``, ``proj``) as a transformers
    ``CLIPVisionModelWithProjection`` state dict."""
    vision = "vision_model."
    out = _resblocks(state, prefix + "transformer.", vision + "encoder.")
    out[vision + "embeddings.class_embedding"] = state[prefix + "class_embedding"]
    out[vision + "embeddings.patch_embedding.weight"] = state[prefix + "conv1.weight"]
    out[vision + "embeddings.position_embedding.weight"] = state[prefix + "positional_embedding"]
    for ours, theirs in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
        out[f"{vision}{ours}.weight"] = state[f"{prefix}{theirs}.weight"]
        out[f"{vision}{ours}.bias"] = state[f"{prefix}{theirs}.bias"]
    out["visual_projection.weight"] = state[prefix + "proj"].T.contiguous()
    return out
