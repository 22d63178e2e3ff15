"""Which family a split model file holds, from its safetensors header alone, and which loader builds it.

No torch: the api lists and validates with it (GET /v1/models, model_check.py) and the worker picks a
loader with it. A header is ``{tensor name: {"dtype", "shape", ...}}`` (model_family.py reads it; the
weights are never read). Each table is a plain dict, checked in order, first match wins: a new family
(SD3's MMDiT, another text encoder) is one more entry in SIGNATURES and in a LOADERS table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Header = dict[str, Any]

# Prefixes under which a whole checkpoint (and some exports) nest each part.
DIFFUSION_PREFIXES = ("", "model.diffusion_model.")
T5_PREFIXES = ("", "text_encoders.t5xxl.transformer.")
CLIP_L_PREFIXES = ("", "text_encoders.clip_l.transformer.")


def _has(header: Header, key: str, prefixes: tuple[str, ...] = ("",)) -> bool:
    return any(prefix + key in header for prefix in prefixes)


def shape_of(header: Header, key: str, prefixes: tuple[str, ...] = ("",)) -> list[int] | None:
    """The shape of `key` under the first prefix that has it, else None."""
    for prefix in prefixes:
        entry = header.get(prefix + key)
        if isinstance(entry, dict) and isinstance(entry.get("shape"), list):
            return [int(v) for v in entry["shape"]]
    return None


def _flux(header: Header) -> bool:
    return _has(header, "double_blocks.0.img_attn.qkv.weight", DIFFUSION_PREFIXES)


def _flux_dev(header: Header) -> bool:
    # FLUX.1 dev is guidance-distilled: it embeds the guidance scale; schnell has no guidance_in.
    return _flux(header) and _has(header, "guidance_in.in_layer.weight", DIFFUSION_PREFIXES)


def _sd3(header: Header) -> bool:
    # Stability AI's MMDiT (SD3 medium, SD3.5 medium/large/turbo): joint blocks of an image and a text half.
    return _has(header, "joint_blocks.0.x_block.attn.qkv.weight", DIFFUSION_PREFIXES)


def _t5(header: Header) -> bool:
    return _has(header, "encoder.block.0.layer.0.SelfAttention.q.weight", T5_PREFIXES)


def _wan(header: Header) -> bool:
    # Wan 2.1's original layout; HunyuanVideo and others name their blocks differently.
    return _has(header, "blocks.0.self_attn.q.weight", DIFFUSION_PREFIXES) and _has(
        header, "patch_embedding.weight", DIFFUSION_PREFIXES
    )


def _wan_i2v(header: Header) -> bool:
    # Image-to-video: the noisy latent plus a 4-channel mask and the start image's 16 latent channels.
    shape = shape_of(header, "patch_embedding.weight", DIFFUSION_PREFIXES)
    return _wan(header) and shape is not None and len(shape) == 5 and shape[1] > 16


def _ltxv(header: Header) -> bool:
    # LTX-Video's transformer in Lightricks' layout (patchify_proj, adaln_single), as its checkpoints hold it.
    return _has(header, "patchify_proj.weight", DIFFUSION_PREFIXES) and _has(
        header, "transformer_blocks.0.attn1.to_q.weight", DIFFUSION_PREFIXES
    )


def _umt5(header: Header) -> bool:
    # UMT5 gives every block its own relative-position bias (T5 only the first); its vocabulary is 256k.
    if not _t5(header):
        return False
    vocab = shape_of(header, "shared.weight", T5_PREFIXES)
    return _has(
        header, "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", T5_PREFIXES
    ) or (vocab is not None and vocab[0] > 200_000)


def _wan_vae(header: Header) -> bool:
    # Wan 2.1's causal 3-D VAE in the reference layout (RMS-norm gammas, conv1 rather than conv_in).
    return "decoder.middle.0.residual.0.gamma" in header and "encoder.conv1.weight" in header


def _clip_text(header: Header) -> bool:
    return _has(header, "text_model.encoder.layers.0.self_attn.q_proj.weight", CLIP_L_PREFIXES)


def _clip_width(header: Header) -> int:
    shape = shape_of(header, "text_model.embeddings.token_embedding.weight", CLIP_L_PREFIXES)
    return shape[1] if shape else 0


def _clip_g(header: Header) -> bool:
    return _clip_text(header) and _clip_width(header) == 1280  # OpenCLIP ViT-bigG's width


def _ldm_unet(header: Header) -> bool:
    return _has(header, "input_blocks.0.0.weight", DIFFUSION_PREFIXES)


def _sdxl_unet(header: Header) -> bool:
    return _ldm_unet(header) and _has(header, "label_emb.0.0.weight", DIFFUSION_PREFIXES)


#: family -> does this header hold it. Ordered: the first that matches names the file.
SIGNATURES: dict[str, Callable[[Header], bool]] = {
    "sd3": _sd3,  # first: a whole SD3 checkpoint also holds text_encoders.clip_l/clip_g.*
    "flux_dev": _flux_dev,
    "flux_schnell": _flux,
    "wan21_i2v": _wan_i2v,
    "wan21_t2v": _wan,
    "ltxv": _ltxv,
    "umt5xxl": _umt5,
    "t5xxl": _t5,
    "wan_vae": _wan_vae,
    "clip_g": _clip_g,
    "clip_l": _clip_text,
    "sdxl_unet": _sdxl_unet,
    "sd15_unet": _ldm_unet,
}

#: What UNETLoader builds from a diffusion_models/ file of each family ("module:function", imported lazily).
DIFFUSION_MODEL_LOADERS: dict[str, str] = {
    "flux_dev": "nodes.flux.loading:load_flux_diffusion_model",
    "flux_schnell": "nodes.flux.loading:load_flux_diffusion_model",
    "sd3": "nodes.sd3.loading:load_sd3_diffusion_model",
    "wan21_t2v": "nodes.wan.loading:load_wan_diffusion_model",
    "wan21_i2v": "nodes.wan.loading:load_wan_diffusion_model",
}

#: What the CLIP loaders build from a text_encoders/ file of each family.
TEXT_ENCODER_LOADERS: dict[str, str] = {
    "clip_l": "nodes.loaders.text_encoders:load_clip_text_model",
    "clip_g": "nodes.loaders.text_encoders:load_clip_text_model",
    "t5xxl": "nodes.loaders.text_encoders:load_t5_encoder",
    "umt5xxl": "nodes.wan.text:load_umt5_encoder",
}

#: Checkpoints (CheckpointLoaderSimple) of these families load from an all-in-one single file.
CHECKPOINT_LOADERS: dict[str, str] = {
    "flux_dev": "nodes.flux.loading:load_flux_checkpoint",
    "flux_schnell": "nodes.flux.loading:load_flux_checkpoint",
    "sd3": "nodes.sd3.loading:load_sd3_checkpoint",
    "ltxv": "nodes.ltxv.loading:load_ltxv_checkpoint",
}

#: A CLIP loader's `type` -> the text encoder families it is built from (nodes/loaders/recipes.py builds it).
CLIP_RECIPES: dict[str, tuple[str, ...]] = {
    "stable_diffusion": ("clip_l",),
    "flux": ("clip_l", "t5xxl"),
    "sdxl": ("clip_l", "clip_g"),
    "sd3": ("clip_l", "clip_g", "t5xxl"),
    "wan": ("umt5xxl",),
    "ltxv": ("t5xxl",),
}
#: Types whose CLIP may be built from some of its encoders (ComfyUI's SD3: any one, two or all three).
PARTIAL_RECIPES = ("sd3",)
#: The CLIP loaders' file inputs, and their type when fixed.
CLIP_LOADER_INPUTS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "CLIPLoader": (("clip_name",), None),
    "DualCLIPLoader": (("clip_name1", "clip_name2"), None),
    "TripleCLIPLoader": (("clip_name1", "clip_name2", "clip_name3"), "sd3"),
}

FOLDER_LOADERS = {"diffusion_models": DIFFUSION_MODEL_LOADERS, "text_encoders": TEXT_ENCODER_LOADERS}
_LABELS = {
    "diffusion_models": (
        "a diffusion model UNETLoader builds (FLUX.1 dev or schnell in BFL's layout, SD3/SD3.5 in "
        "Stability AI's, Wan 2.1 in its original one)"
    ),
    "text_encoders": "a text encoder the CLIP loaders build (CLIP-L, CLIP-G, T5-XXL or UMT5-XXL)",
}


def split_family(header: Header) -> str:
    """The family of a split model file's header (SIGNATURES' names), or "unknown"."""
    for family, matches in SIGNATURES.items():
        if matches(header):
            return family
    return "unknown"


def split_file_refusal(folder: str, path: Path, kind: str, family: str) -> str | None:
    """Why UNETLoader or the CLIP loaders would refuse this listed file; None when one loads it."""
    if kind != "single_file":
        return "a folder: these loaders take one .safetensors file"
    if path.suffix != ".safetensors":
        return f"a pickled {path.suffix} file: only .safetensors files load (unpickling could run code)"
    if family not in FOLDER_LOADERS[folder]:
        return f"not {_LABELS[folder]}; its family is {family!r}"
    return None


def clip_recipe_problem(clip_type: str, families: list[tuple[str, str]]) -> str | None:
    """Why the (input name, family) files cannot make a CLIP of `clip_type`; None when they can."""
    needed = CLIP_RECIPES.get(clip_type)
    if needed is None:
        return (
            f"type {clip_type!r} does not load here yet (types that load: {', '.join(sorted(CLIP_RECIPES))})"
        )
    have = [family for _, family in families]
    if clip_type in PARTIAL_RECIPES:  # each at most once, none from another family
        if len(set(have)) == len(have) and set(have) <= set(needed):
            return None
    elif sorted(have) == sorted(needed):
        return None
    found = ", ".join(f"{name}: {family}" for name, family in families)
    takes = (
        " + ".join(needed) if clip_type not in PARTIAL_RECIPES else f"some of {', '.join(needed)} (each once)"
    )
    return f"type {clip_type!r} takes {takes} text encoders, but these files are {found}"


def loader_for(table: dict[str, str], family: str, what: str) -> Callable[..., Any]:
    """The loader function of `family` in `table`, imported now (worker side only)."""
    import importlib

    target = table.get(family)
    if target is None:
        known = ", ".join(sorted(table))
        raise ValueError(f"{what} is of family {family!r}, which no loader here builds (known: {known}).")
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)
