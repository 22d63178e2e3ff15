"""Which text encoders make a CLIP of each ComfyUI `type`, and how they are put together.

CLIPLoader, DualCLIPLoader and TripleCLIPLoader load each file by its family (families.py), then
the recipe of their `type` builds the CLIP handle. A new family (SD3: clip_l + clip_g + t5xxl) is
one more entry in RECIPES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nodes.diffusion.handles import ClipHandle

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


#: type -> (the families it needs, in any order of the inputs; the builder).
RECIPES: dict[str, tuple[tuple[str, ...], Callable[[Encoders], ClipHandle]]] = {
    "stable_diffusion": (("clip_l",), _stable_diffusion),
    "flux": (("clip_l", "t5xxl"), _flux),
    "sdxl": (("clip_l", "clip_g"), _sdxl),
}


def build_clip(clip_type: str, encoders: list[tuple[str, str, tuple[Any, Any]]]) -> ClipHandle:
    """The CLIP of `clip_type` from the loaded (input name, family, encoder) triples."""
    recipe = RECIPES.get(clip_type)
    if recipe is None:
        known = ", ".join(sorted(RECIPES))
        raise ValueError(f"type {clip_type!r} does not load here yet (types that load: {known}).")
    needed, build = recipe
    by_family = {family: loaded for _, family, loaded in encoders}
    found = ", ".join(f"{name}: {family}" for name, family, _ in encoders)
    if sorted(by_family) != sorted(needed) or len(encoders) != len(needed):
        raise ValueError(
            f"type {clip_type!r} takes {' + '.join(needed)} text encoders, but these files are {found}."
        )
    return build(by_family)
