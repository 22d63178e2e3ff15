"""Schemas of the LTX-Video nodes: empty latent, conditioning, scheduler, model sampling, image-to-video."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import (
    BOOLEAN,
    CONDITIONING,
    FLOAT,
    IMAGE,
    INT,
    LATENT,
    MODEL,
    SIGMAS,
    VAE,
    InputSpec,
    OutputSpec,
)

OPS = "nodes.ltxv.ops"


def _size(min_length: int) -> tuple[InputSpec, ...]:
    return (
        InputSpec("width", INT, default=768, min=64, max=16384, step=32),
        InputSpec("height", INT, default=512, min=64, max=16384, step=32),
        InputSpec("length", INT, default=97, min=min_length, max=16384, step=8),
        InputSpec("batch_size", INT, default=1, min=1, max=4096),
    )


def _shifts() -> tuple[InputSpec, ...]:
    return (
        InputSpec("max_shift", FLOAT, default=2.05, min=0.0, max=100.0, step=0.01),
        InputSpec("base_shift", FLOAT, default=0.95, min=0.0, max=100.0, step=0.01),
    )


_PAIR = (OutputSpec(CONDITIONING, "positive"), OutputSpec(CONDITIONING, "negative"))

SPECS = (
    V3NodeSpec(
        class_type="EmptyLTXVLatentVideo",
        category="latent/video/ltxv",
        impl=f"{OPS}:empty_ltxv_latent_video",
        inputs=_size(1),
        outputs=(OutputSpec(LATENT),),
    ),
    V3NodeSpec(
        class_type="LTXVConditioning",
        category="conditioning/video_models",
        impl=f"{OPS}:ltxv_conditioning",
        inputs=(
            InputSpec("positive", CONDITIONING),
            InputSpec("negative", CONDITIONING),
            InputSpec("frame_rate", FLOAT, default=25.0, min=0.0, max=1000.0, step=0.01),
        ),
        outputs=_PAIR,
    ),
    V3NodeSpec(
        class_type="LTXVScheduler",
        category="sampling/custom_sampling/schedulers",
        impl=f"{OPS}:ltxv_scheduler",
        inputs=(
            InputSpec("steps", INT, default=20, min=1, max=10000),
            *_shifts(),
            InputSpec(
                "stretch",
                BOOLEAN,
                default=True,
                tooltip="Stretch the sigmas to be in the range [terminal, 1].",
            ),
            InputSpec(
                "terminal",
                FLOAT,
                default=0.1,
                min=0.0,
                max=0.99,
                step=0.01,
                tooltip="The terminal value of the sigmas after stretching.",
            ),
            InputSpec("latent", LATENT, required=False),
        ),
        outputs=(OutputSpec(SIGMAS),),
    ),
    V3NodeSpec(
        class_type="ModelSamplingLTXV",
        category="advanced/model",
        impl=f"{OPS}:model_sampling_ltxv",
        inputs=(InputSpec("model", MODEL), *_shifts(), InputSpec("latent", LATENT, required=False)),
        outputs=(OutputSpec(MODEL),),
    ),
    V3NodeSpec(
        class_type="LTXVImgToVideo",
        category="conditioning/video_models",
        impl=f"{OPS}:ltxv_img_to_video",
        inputs=(
            InputSpec("positive", CONDITIONING),
            InputSpec("negative", CONDITIONING),
            InputSpec("vae", VAE),
            InputSpec("image", IMAGE),
            *_size(9),
            InputSpec("strength", FLOAT, default=1.0, min=0.0, max=1.0),
        ),
        outputs=(*_PAIR, OutputSpec(LATENT, "latent")),
    ),
)
