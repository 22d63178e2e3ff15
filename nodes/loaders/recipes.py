"""Which text encoders make a CLIP of each ComfyUI `type`, and how they are put together.

CLIPLoader, DualCLIPLoader and TripleCLIPLoader load each file by its family (families.py), then
the recipe of their `type` builds the CLIP handle. A new family (SD3: clip_l + clip_g + t5xxl) is
one more entry in BUILDERS and in families.CLIP_RECIPES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodes.diffusion.handles import ClipHandle
from nodes.loaders.families import clip_recipe_problem

# family -> (text encoder module, tokenizer), as the loaders return them.
Encoders = dict[str, tuple[Any, Any]]


def _stable_diffusion(encoders: Encoders) -> ClipHandle:
    model, tokenizer = encoders["clip_l"]
    return ClipHandle(tokenizer=tokenizer, text_encoder=model)


def _flux(encoders: Encoders) -> ClipHandle:
    from nodes.loaders.text_encoders import flux_clip

    (clip_l, tokenizer), (t5, t5_tokenizer) = encoders["clip_l"], encoders["t5xxl"]
    return flux_clip(tokenizer, clip_l, t5_tokenizer, t5)


def _sdxl(encoders: Encoders) -> ClipHandle:
    from nodes.diffusion.sdxl_loading import SDXL_CLIP_LAYER  # the penultimate layer, as SDXL's checkpoints

    (clip_l, tokenizer), (clip_g, tokenizer_2) = encoders["clip_l"], encoders["clip_g"]
    return ClipHandle(
        tokenizer=tokenizer,
        text_encoder=clip_l,
        last_layer=SDXL_CLIP_LAYER,
        tokenizer_2=tokenizer_2,
        text_encoder_2=clip_g,
    )


def _sd3(encoders: Encoders) -> ClipHandle:
    from nodes.sd3.text import sd3_clip

    return sd3_clip(encoders)  # any of clip_l, clip_g, t5xxl (families.PARTIAL_RECIPES)


def _wan(encoders: Encoders) -> ClipHandle:
    from nodes.wan.text import wan_clip

    model, tokenizer = encoders["umt5xxl"]
    return wan_clip(tokenizer, model)


def _ltxv(encoders: Encoders) -> ClipHandle:
    model, tokenizer = encoders["t5xxl"]
    return ClipHandle(
        tokenizer=None, text_encoder=None, kind="ltxv", t5_tokenizer=tokenizer, t5_encoder=model
    )


#: type -> its builder; the families each takes are families.CLIP_RECIPES (the api checks them too).
BUILDERS: dict[str, Callable[[Encoders], ClipHandle]] = {
    "stable_diffusion": _stable_diffusion,
    "flux": _flux,
    "sdxl": _sdxl,
    "sd3": _sd3,
    "wan": _wan,
    "ltxv": _ltxv,
}


def build_clip(clip_type: str, encoders: list[tuple[str, str, tuple[Any, Any]]]) -> ClipHandle:
    """The CLIP of `clip_type` from the loaded (input name, family, encoder) triples."""
    problem = clip_recipe_problem(clip_type, [(name, family) for name, family, _ in encoders])
    if problem is not None:
        raise ValueError(problem[0].upper() + problem[1:] + ".")
    return BUILDERS[clip_type]({family: loaded for _, family, loaded in encoders})
