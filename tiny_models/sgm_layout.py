"""Renames diffusers SDXL state dicts to the original SDXL (Stability "SGM") single-file key layout.

Only the tiny test checkpoints need this direction, as with ``ldm_layout`` for
SD1: they are written from diffusers/transformers modules and loaded back
through diffusers' own converters, exactly as a real SDXL file is. The UNet and
VAE share SD1's ldm names (plus SDXL's ``label_emb`` for the size/pooled-text
embedding); the text encoders sit under ``conditioner.embedders``: CLIP-L in
transformers' names, OpenCLIP ViT-bigG in OpenCLIP's own layout with fused
q/k/v projections (``attn.in_proj_weight``) and a ``text_projection`` matrix
that multiplies from the right.

Our own mapping, written from the OpenCLIP and SGM module structure; Django-free.
"""

from __future__ import annotations

from typing import Any

from tiny_models.ldm_layout import UNET_PREFIX, unet_to_ldm, vae_to_ldm

CLIP_L_PREFIX = "conditioner.embedders.0.transformer.text_model."
OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."

# diffusers' add_embedding (pooled text + size embedding MLP) is SGM's label_emb.0 = (linear, act, linear).
_ADD_EMBEDDING = (
    ("add_embedding.linear_1.", "label_emb.0.0."),
    ("add_embedding.linear_2.", "label_emb.0.2."),
)

# transformers CLIP encoder-layer names -> OpenCLIP resblock names (q/k/v are fused separately).
_OPEN_CLIP_LAYER_PARTS = (
    ("layer_norm1.", "ln_1."),
    ("layer_norm2.", "ln_2."),
    ("mlp.fc1.", "mlp.c_fc."),
    ("mlp.fc2.", "mlp.c_proj."),
    ("self_attn.out_proj.", "attn.out_proj."),
)


def sdxl_unet_to_sgm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    plain = {k: v for k, v in state.items() if not k.startswith("add_embedding.")}
    out = unet_to_ldm(plain, config)
    for key, value in state.items():
        for old, new in _ADD_EMBEDDING:
            if key.startswith(old):
                out[UNET_PREFIX + new + key[len(old) :]] = value
    return out


def sdxl_vae_to_sgm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    return vae_to_ldm(state, config)


def clip_l_to_sgm(state: dict[str, Any]) -> dict[str, Any]:
    # transformers >= 5.6 flattened CLIPTextModel; the file keeps the text_model. level.
    return {CLIP_L_PREFIX + key.removeprefix("text_model."): value for key, value in state.items()}


def open_clip_to_sgm(state: dict[str, Any]) -> dict[str, Any]:
    """A ``CLIPTextModelWithProjection`` state dict in OpenCLIP's text-tower layout."""
    import torch

    state = {key.removeprefix("text_model."): value for key, value in state.items()}
    out: dict[str, Any] = {
        "positional_embedding": state.pop("embeddings.position_embedding.weight"),
        "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
        "ln_final.weight": state.pop("final_layer_norm.weight"),
        "ln_final.bias": state.pop("final_layer_norm.bias"),
        # OpenCLIP computes pooled @ text_projection; a Linear stores the transpose.
        "text_projection": state.pop("text_projection.weight").T.contiguous(),
    }
    state.pop("embeddings.position_ids", None)
    layers = sorted({int(key.split(".")[2]) for key in state if key.startswith("encoder.layers.")})
    for n in layers:
        src, dst = f"encoder.layers.{n}.", f"transformer.resblocks.{n}."
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{src}self_attn.{p}_proj.{kind}") for p in ("q", "k", "v")]
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(parts, dim=0)
        for key in [k for k in state if k.startswith(src)]:
            rest = key[len(src) :]
            for old, new in _OPEN_CLIP_LAYER_PARTS:
                if rest.startswith(old):
                    rest = new + rest[len(old) :]
                    break
            out[dst + rest] = state.pop(key)
    if state:
        raise ValueError(f"Unmapped text encoder weights: {sorted(state)[:5]}")
    return {OPEN_CLIP_PREFIX + key: value for key, value in out.items()}


def sdxl_non_weight_keys(max_positions: int) -> dict[str, Any]:
    """What the released SDXL files hold besides weights: CLIP-L's int64 ``position_ids`` [1, 77] and
    bigG's CLIP ``logit_scale`` (a trained scalar, but unused for text encoding). No schedule buffers:
    SGM computes its noise schedule instead of storing it."""
    import torch

    return {
        f"{CLIP_L_PREFIX}embeddings.position_ids": torch.arange(max_positions, dtype=torch.int64)[None],
        f"{OPEN_CLIP_PREFIX}logit_scale": torch.tensor(4.6052),  # ln(100), CLIP's trained value
    }
