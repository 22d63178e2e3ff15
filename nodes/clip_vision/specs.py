"""Schemas of the CLIP vision and unCLIP nodes: CLIPVisionLoader, CLIPVisionEncode, unCLIPCheckpointLoader,
unCLIPConditioning (equal to ComfyUI's recorded object_info)."""

from __future__ import annotations

from nodes.schema import (
    CLIP,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    COMBO,
    CONDITIONING,
    FLOAT,
    IMAGE,
    MODEL,
    VAE,
    InputSpec,
    NodeSpec,
    OutputSpec,
)

ENCODE = "nodes.clip_vision.encode"
UNCLIP = "nodes.clip_vision.unclip"

SPECS = (
    NodeSpec(
        class_type="CLIPVisionLoader",
        display_name="Load CLIP Vision",
        category="loaders",
        impl=f"{ENCODE}:clip_vision_loader",
        inputs=(InputSpec("clip_name", COMBO, choices_source="clip_vision"),),
        outputs=(OutputSpec(CLIP_VISION),),
    ),
    NodeSpec(
        class_type="CLIPVisionEncode",
        display_name="CLIP Vision Encode",
        category="conditioning",
        impl=f"{ENCODE}:clip_vision_encode",
        inputs=(
            InputSpec("clip_vision", CLIP_VISION),
            InputSpec("image", IMAGE),
            InputSpec("crop", COMBO, choices=("center", "none")),
        ),
        outputs=(OutputSpec(CLIP_VISION_OUTPUT),),
    ),
    NodeSpec(
        class_type="unCLIPCheckpointLoader",
        category="loaders",
        impl=f"{UNCLIP}:unclip_checkpoint_loader",
        inputs=(InputSpec("ckpt_name", COMBO, choices_source="checkpoints"),),
        outputs=(OutputSpec(MODEL), OutputSpec(CLIP), OutputSpec(VAE), OutputSpec(CLIP_VISION)),
    ),
    NodeSpec(
        class_type="unCLIPConditioning",
        category="conditioning",
        impl=f"{UNCLIP}:unclip_conditioning",
        inputs=(
            InputSpec("conditioning", CONDITIONING),
            InputSpec("clip_vision_output", CLIP_VISION_OUTPUT),
            InputSpec("strength", FLOAT, default=1.0, min=-10.0, max=10.0, step=0.01),
            InputSpec("noise_augmentation", FLOAT, default=0.0, min=0.0, max=1.0, step=0.01),
        ),
        outputs=(OutputSpec(CONDITIONING),),
    ),
)
