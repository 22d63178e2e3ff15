"""Schemas of the Stable Video Diffusion nodes: ImageOnlyCheckpointLoader, SVD_img2vid_Conditioning,
VideoLinearCFGGuidance, VideoTriangleCFGGuidance (equal to ComfyUI's recorded object_info)."""

from __future__ import annotations

from nodes.schema import (
    CLIP_VISION,
    COMBO,
    CONDITIONING,
    FLOAT,
    IMAGE,
    INT,
    LATENT,
    MODEL,
    VAE,
    InputSpec,
    NodeSpec,
    OutputSpec,
)

OPS = "nodes.svd.ops"
GUIDANCE = "nodes.svd.guidance"


def _min_cfg() -> InputSpec:
    return InputSpec("min_cfg", FLOAT, default=1.0, min=0.0, max=100.0, step=0.5, round=0.01)


SPECS = (
    NodeSpec(
        class_type="ImageOnlyCheckpointLoader",
        display_name="Image Only Checkpoint Loader (img2vid model)",
        category="loaders/video_models",
        impl=f"{OPS}:image_only_checkpoint_loader",
        inputs=(InputSpec("ckpt_name", COMBO, choices_source="checkpoints"),),
        outputs=(OutputSpec(MODEL), OutputSpec(CLIP_VISION), OutputSpec(VAE)),
    ),
    NodeSpec(
        class_type="SVD_img2vid_Conditioning",
        category="conditioning/video_models",
        impl=f"{OPS}:svd_img2vid_conditioning",
        inputs=(
            InputSpec("clip_vision", CLIP_VISION),
            InputSpec("init_image", IMAGE),
            InputSpec("vae", VAE),
            InputSpec("width", INT, default=1024, min=16, max=16384, step=8),
            InputSpec("height", INT, default=576, min=16, max=16384, step=8),
            InputSpec("video_frames", INT, default=14, min=1, max=4096),
            InputSpec("motion_bucket_id", INT, default=127, min=1, max=1023),
            InputSpec("fps", INT, default=6, min=1, max=1024),
            InputSpec("augmentation_level", FLOAT, default=0.0, min=0.0, max=10.0, step=0.01),
        ),
        outputs=(
            OutputSpec(CONDITIONING, name="positive"),
            OutputSpec(CONDITIONING, name="negative"),
            OutputSpec(LATENT, name="latent"),
        ),
    ),
    NodeSpec(
        class_type="VideoLinearCFGGuidance",
        category="sampling/video_models",
        impl=f"{GUIDANCE}:video_linear_cfg_guidance",
        inputs=(InputSpec("model", MODEL), _min_cfg()),
        outputs=(OutputSpec(MODEL),),
    ),
    NodeSpec(
        class_type="VideoTriangleCFGGuidance",
        category="sampling/video_models",
        impl=f"{GUIDANCE}:video_triangle_cfg_guidance",
        inputs=(InputSpec("model", MODEL), _min_cfg()),
        outputs=(OutputSpec(MODEL),),
    ),
)
