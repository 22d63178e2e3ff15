"""Loads CLIP vision towers offline into transformers' CLIPVisionModelWithProjection.

``models/clip_vision/`` files come in the layouts ComfyUI users have:
- transformers' (``vision_model.*`` + ``visual_projection.weight``): ``clip_vision_g.safetensors``,
  ``CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors`` (IP-Adapter's image encoder), OpenAI's ViT-L;
  a full CLIPModel file (with ``text_model.*``) loads its vision half;
- OpenCLIP's (``visual.conv1.weight``, ``visual.transformer.resblocks.N`` ...);
- inside an SD 2.1 unCLIP checkpoint, OpenCLIP's layout under ``embedder.model.visual.``.
The architecture comes from a sidecar ``NAME.config/config.json`` (a CLIPVisionConfig) when there is
one, else from the shipped config for the tower's width (configs/: ViT-L/14 1024, ViT-H/14 1280,
ViT-bigG/14 1664), with the image size read off the position embeddings (ViT-L/14-336 too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodes.clip_vision.handles import ClipVisionHandle
from nodes.diffusion.model_files import read_weights, weights_dtype
from nodes.diffusion.open_clip_keys import open_clip_vision_to_transformers

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SHIPPED_BY_WIDTH = {1024: "vit_l.json", 1280: "vit_h.json", 1664: "vit_g.json"}
UNCLIP_PREFIX = "embedder.model.visual."


def load_clip_vision(path: Path, device: str) -> ClipVisionHandle:
    """A CLIPVisionLoader file (any layout above)."""
    state = read_weights(path, "CLIP vision model")
    return clip_vision_from_state(
        path, state, device, config_file=path.with_suffix(".config") / "config.json"
    )


def clip_vision_from_state(
    path: Path, state: dict[str, Any], device: str, *, config_file: Path | None = None
) -> ClipVisionHandle:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    weights = transformers_layout(path, state)
    patch = weights["vision_model.embeddings.patch_embedding.weight"]
    width = int(patch.shape[0])
    if config_file is not None and config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
    elif width in SHIPPED_BY_WIDTH:
        config = json.loads((CONFIG_DIR / SHIPPED_BY_WIDTH[width]).read_text(encoding="utf-8"))
    else:
        where = config_file or path.with_suffix(".config") / "config.json"
        raise ValueError(
            f"CLIP vision model {path.name!r} is {width} wide, which no shipped config fits (ViT-L/14 1024, "
            f"ViT-H/14 1280, ViT-bigG/14 1664): put its CLIPVisionConfig in {where}."
        )
    # The image size follows from the position embeddings: (size / patch)^2 patches + the class token.
    positions = int(weights["vision_model.embeddings.position_embedding.weight"].shape[0])
    config["image_size"] = round((positions - 1) ** 0.5) * int(patch.shape[-1])
    config["patch_size"] = int(patch.shape[-1])
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**config))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [key for key in missing if "position_ids" not in key]
    if missing or unexpected:
        raise ValueError(
            f"CLIP vision model {path.name!r} does not match its config (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})."
        )
    model.to(device=device, dtype=weights_dtype(device)).eval().requires_grad_(False)
    return ClipVisionHandle(model=model, image_size=int(config["image_size"]))


def transformers_layout(path: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The vision tower's weights under transformers' names, whatever layout the file has."""
    for prefix in (UNCLIP_PREFIX, "visual."):
        if prefix + "conv1.weight" in state:
            return open_clip_vision_to_transformers(state, prefix)
    if "vision_model.embeddings.patch_embedding.weight" in state:
        keep = ("vision_model.", "visual_projection.")
        return {
            key: value
            for key, value in state.items()
            if key.startswith(keep) and not key.endswith("position_ids")
        }
    raise ValueError(
        f"{path.name!r} is not a CLIP vision model: no vision_model.*, visual.* or {UNCLIP_PREFIX}* weights."
    )
