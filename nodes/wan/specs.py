"""Schemas of the Wan 2.1 video nodes: its empty video latent (HunyuanVideo's node) and image-to-video."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import (
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    IMAGE,
    INT,
    LATENT,
    VAE,
    InputSpec,
    NodeSpec,
    OutputSpec,
)

OPS = "nodes.wan.ops"


def _video_size(width: int, length: int) -> tuple[InputSpec, ...]:
    return (
        InputSpec("width", INT, default=width, min=16, max=16384, step=16),
        InputSpec("height", INT, default=480, min=16, max=16384, step=16),
        InputSpec("length", INT, default=length, min=1, max=16384, step=4),
        InputSpec("batch_size", INT, default=1, min=1, max=4096),
    )


SPECS = (
    NodeSpec(
        class_type="EmptyHunyuanLatentVideo",
        category="latent/video",
        impl=f"{OPS}:empty_hunyuan_latent_video",
        inputs=_video_size(848, 25),
        outputs=(OutputSpec(LATENT),),
    ),
    V3NodeSpec(
        class_type="WanImageToVideo",
        category="conditioning/video_models",
        impl=f"{OPS}:wan_image_to_video",
        inputs=(
            InputSpec("positive", CONDITIONING),
            InputSpec("negative", CONDITIONING),
            InputSpec("vae", VAE),
            *_video_size(832, 81),
            InputSpec("clip_vision_output", CLIP_VISION_OUTPUT, required=False),
            InputSpec("start_image", IMAGE, required=False),
        ),
        outputs=(
            OutputSpec(CONDITIONING, "positive"),
            OutputSpec(CONDITIONING, "negative"),
            OutputSpec(LATENT, "latent"),
        ),
    ),
)
