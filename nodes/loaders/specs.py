"""Schemas of the split model loaders (ComfyUI's "advanced/loaders")."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import CLIP, COMBO, MODEL, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.loaders.ops"
CATEGORY = "advanced/loaders"
CLIP_TYPES = (
    "stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
    "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image",
)  # fmt: skip
DUAL_CLIP_TYPES = ("sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image")
DEVICE = InputSpec("device", COMBO, required=False, choices=("default", "cpu"), options={"advanced": True})


def _encoder(name: str) -> InputSpec:
    return InputSpec(name, COMBO, choices_source="text_encoders")


SPECS = (
    NodeSpec(
        class_type="UNETLoader",
        display_name="Load Diffusion Model",
        category=CATEGORY,
        impl=f"{OPS}:unet_loader",
        inputs=(
            InputSpec("unet_name", COMBO, choices_source="diffusion_models"),
            InputSpec(
                "weight_dtype", COMBO, choices=("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")
            ),
        ),
        outputs=(OutputSpec(MODEL),),
    ),
    NodeSpec(
        class_type="CLIPLoader",
        display_name="Load CLIP",
        category=CATEGORY,
        description=(
            "[Recipes]\n\nstable_diffusion: clip-l\nstable_cascade: clip-g\nsd3: t5 xxl/ clip-g / clip-l\n"
            "stable_audio: t5 base\nmochi: t5 xxl\ncosmos: old t5 xxl\nlumina2: gemma 2 2B\nwan: umt5 xxl\n"
            " hidream: llama-3.1 (Recommend) or t5\nomnigen2: qwen vl 2.5 3B"
        ),
        impl=f"{OPS}:clip_loader",
        inputs=(_encoder("clip_name"), InputSpec("type", COMBO, choices=CLIP_TYPES), DEVICE),
        outputs=(OutputSpec(CLIP),),
    ),
    NodeSpec(
        class_type="DualCLIPLoader",
        category=CATEGORY,
        description=(
            "[Recipes]\n\nsdxl: clip-l, clip-g\nsd3: clip-l, clip-g / clip-l, t5 / clip-g, t5\n"
            "flux: clip-l, t5\n"
            "hidream: at least one of t5 or llama, recommended t5 and llama\n"
            "hunyuan_image: qwen2.5vl 7b and byt5 small"
        ),
        impl=f"{OPS}:dual_clip_loader",
        inputs=(
            _encoder("clip_name1"),
            _encoder("clip_name2"),
            InputSpec("type", COMBO, choices=DUAL_CLIP_TYPES),
            DEVICE,
        ),
        outputs=(OutputSpec(CLIP),),
    ),
    # A V3 node in ComfyUI (comfy_extras.nodes_sd3).
    V3NodeSpec(
        class_type="TripleCLIPLoader",
        category=CATEGORY,
        description="[Recipes]\n\nsd3: clip-l, clip-g, t5",
        impl=f"{OPS}:triple_clip_loader",
        inputs=(_encoder("clip_name1"), _encoder("clip_name2"), _encoder("clip_name3")),
        outputs=(OutputSpec(CLIP),),
    ),
)
